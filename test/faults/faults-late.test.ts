import assert from 'node:assert/strict';
import test, { type TestContext } from 'node:test';
import { analysisOk, type DiegoStub } from '../helpers/diego-stub.ts';
import { outputOf, stopReplicas, type Replica } from '../helpers/replicas.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';

// Issue 23 §3, freshness: a REAL agent process is stopped (SIGSTOP) just before one of its slots and continued
// (SIGCONT) well after it. Woken late, within the slot's interval (so the slot is not passed over as missed), it
// must not send a request later than MAX_LATENESS_MS after the slot: the slot is recorded skipped, reason `late`,
// with its lateness; the next slot fires as usual. Slots every 4 s on the wall clock; every wait has wide bounds.

const PATTERN = '*/4 * * * * *';
const INTERVAL_MS = 4000;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

/**
 * Stops `agent` from 300 ms before a slot of the pattern to `pastMs` after it; a stop that came too late (the
 * test runner itself stalled: a POST arrived for that slot) is tried again at the next slot. The slot stalled.
 */
async function stallAcross(agent: Replica, stub: DiegoStub, pastMs: number): Promise<number> {
  for (let trial = 0; trial < 5; trial++) {
    const slot = Math.ceil((Date.now() + 1500) / INTERVAL_MS) * INTERVAL_MS;
    await sleep(slot - 300 - Date.now());
    agent.kill('SIGSTOP');
    const stoppedAt = Date.now();
    await sleep(slot + pastMs - Date.now());
    agent.kill('SIGCONT');
    if (stoppedAt < slot - 50 && !stub.received.some((r) => r.at >= slot - 50 && r.at < slot + pastMs)) return slot;
  }
  throw new Error('could not stop the agent across a slot in 5 trials');
}

async function lateAgent(ctx: TestContext, env: Record<string, string>) {
  const s = scene(ctx);
  const t = await s.database('sqlite');
  const stub = await s.stub([{ status: 200, body: analysisOk('HOLD') }]);
  const agent = s.replica('late-1', { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: PATTERN, ...env });
  await agent.line(/Next fire time/, 30_000);
  await until(() => stub.received.length >= 1, 'a first cycle on time', 15_000);
  const row = async (slot: number) => {
    await until(async () => (await t.db.selectFrom('cycles').select('status').where('scheduled_at', '=', slot).where('status', '!=', 'running').execute()).length === 1, `slot ${new Date(slot).toISOString()} closed`, 15_000);
    return t.db.selectFrom('cycles').select(['status', 'reason', 'error', 'attempts']).where('scheduled_at', '=', slot).executeTakeFirstOrThrow();
  };
  const sentFor = (slot: number) => stub.received.filter((r) => r.at >= slot - 50 && r.at < slot + INTERVAL_MS - 100);
  return { t, stub, agent, row, sentFor };
}

test('MAX_LATENESS_MS: a SIGSTOPped agent woken 1.2 s after its slot sends nothing for it (skipped, late, with its lateness); the next slot fires', async (ctx) => {
  const { stub, agent, row, sentFor } = await lateAgent(ctx, { MAX_LATENESS_MS: '300' });
  const slot = await stallAcross(agent, stub, 1200);
  const r = await row(slot);
  const all = outputOf(agent);
  assert.deepEqual([r.status, r.reason], ['skipped', 'late'], `${JSON.stringify(r)}\n${all}`);
  const late = Number(/not sent: (\d+) ms late, past MAX_LATENESS_MS=300/.exec(r.error ?? '')?.[1]);
  assert.ok(late >= 1100 && late < INTERVAL_MS, `the lateness is recorded (${r.error})`);
  assert.deepEqual(sentFor(slot), [], `nothing was sent for the stalled slot\n${all}`);
  // Fresh again: the next slot is sent, on time.
  const next = await row(slot + INTERVAL_MS);
  assert.equal(next.status, 'succeeded', `${JSON.stringify(next)}\n${all}`);
  assert.equal(sentFor(slot + INTERVAL_MS).length, 1);
  assert.match(outputOf(agent), new RegExp(`Slot ${new Date(slot).toISOString()} passed over: not fired: not sent: \\d+ ms late, past MAX_LATENESS_MS=300`));
  assert.doesNotMatch(all, /control state re-read from the database before sending \(not sent: late\)/, 'a stale request costs no database read');
  assert.deepEqual(await stopReplicas([agent]), [0], all);
});

test('MAX_LATENESS_MS unset: half the gap to the next slot (2 s here): woken 1 s late the request still leaves, 3 s late it does not', async (ctx) => {
  const { stub, agent, row, sentFor } = await lateAgent(ctx, {});
  const sent = await stallAcross(agent, stub, 1000);
  const r1 = await row(sent);
  assert.equal(r1.status, 'succeeded', `${JSON.stringify(r1)}\n${outputOf(agent)}`);
  assert.equal(sentFor(sent).length, 1);
  const skipped = await stallAcross(agent, stub, 3000);
  const r2 = await row(skipped);
  assert.deepEqual([r2.status, r2.reason], ['skipped', 'late'], `${JSON.stringify(r2)}\n${outputOf(agent)}`);
  assert.match(r2.error ?? '', /past MAX_LATENESS_MS=2000/);
  assert.deepEqual(sentFor(skipped), []);
  assert.deepEqual(await stopReplicas([agent]), [0], outputOf(agent));
});
