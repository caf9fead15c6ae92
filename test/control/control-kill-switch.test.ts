import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { pause, resume } from '../helpers/control-actions.ts';
import { runCli } from '../helpers/cli-process.ts';
import { analysisOk, type DiegoStub } from '../helpers/diego-stub.ts';
import { outputOf, stopReplicas } from '../helpers/replicas.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';

// Issue 22, section 1: every attempt leaves with the execution flag in force when it leaves, and a change committed
// before a slot's moment reaches that slot even inside the prepare window. Real agents (the built CLI) on SQLite,
// the real CLI acting on them, a real Diego stub; every wait is on an event (a POST, a log line), with wide bounds.

const bodies = (stub: DiegoStub) => stub.received.map((r) => ({ at: r.at, key: String(r.headers['idempotency-key']), body: JSON.parse(r.body) as { triggerExecution: boolean } }));

/** One agent that never fires by itself, retrying every 2 s against a stub that always fails, and its run-now cycle. */
async function retryingCycle(ctx: TestContext) {
  const s = scene(ctx);
  const t = await s.database('sqlite');
  const stub = await s.stub([{ status: 503, body: { error: 'busy' } }]);
  const agent = s.replica('agent-1', { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: '0 0 0 1 1 *', RETRY_ATTEMPTS: '3', RETRY_DELAY_MS: '2000' });
  await agent.line(/Next fire time/, 30_000);
  assert.equal((await runCli(['trigger', '--db', t.path])).code, 0);
  await until(() => stub.received.length >= 1, 'the first attempt', 15_000);
  assert.equal(bodies(stub)[0]!.body.triggerExecution, true, 'the first attempt left with execution on');
  return { t, stub, agent };
}

test('[sqlite] a kill switch during retries: attempts 2 and 3 carry triggerExecution false', async (ctx) => {
  const { t, stub, agent } = await retryingCycle(ctx);
  const off = await runCli(['pause', '--execution', '--reason', 'runaway orders', '--db', t.path]);
  assert.equal(off.code, 0, off.err);
  assert.equal(stub.received.length, 1, 'the kill switch returned before the retry (2 s delay): the test is the case it claims');
  await until(() => stub.received.length >= 3, 'attempts 2 and 3', 20_000);
  await agent.line(/Scalping cycle #1 failed after 3 attempt\(s\)/, 10_000);
  assert.deepEqual(bodies(stub).map((p) => p.body.triggerExecution), [true, false, false], outputOf(agent));
  assert.deepEqual(new Set(bodies(stub).map((p) => p.key)).size, 1, 'one cycle, one Idempotency-Key');
  // Claimed with execution on, the cycle's row says at its end that its later attempts went analysis-only, and why.
  const row = await t.db.selectFrom('cycles').select(['execution_off']).executeTakeFirstOrThrow();
  assert.match(row.execution_off ?? '(null)', /execution paused by .*: runaway orders/);
  assert.deepEqual(await stopReplicas([agent]), [0]);
});

test('[sqlite] pause --execution --abort is accepted and cuts the further attempts of a cycle in flight with execution on', async (ctx) => {
  const { t, stub, agent } = await retryingCycle(ctx);
  const off = await runCli(['pause', '--execution', '--abort', '--reason', 'exchange halted', '--db', t.path]);
  assert.equal(off.code, 0, off.err);
  assert.match(off.out, /^Execution off \(analysis only\) \(all symbols\), further attempts of cycles in flight with execution on cut by /m);
  await agent.line(/Scalping cycle #1 interrupted by pause --abort \(execution paused by .*: exchange halted \(--abort: no further attempt\)\) after \d attempt\(s\)/, 15_000);
  assert.equal(stub.received.length, 1, 'no further attempt was sent, not even analysis-only');
  const row = await t.db.selectFrom('cycles').select(['status', 'reason']).executeTakeFirstOrThrow();
  assert.deepEqual([row.status, row.reason], ['interrupted', 'paused']);
  assert.deepEqual(await stopReplicas([agent]), [0]);
});

test('[sqlite] a kill switch committed 50 ms before a slot reaches that slot (inside the prepare window)', async (ctx) => {
  const s = scene(ctx);
  const t = await s.database('sqlite');
  const stub = await s.stub([{ status: 200, body: analysisOk('HOLD') }]);
  const agent = s.replica('agent-1', { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: '*/2 * * * * *' });
  await agent.line(/Next fire time/, 30_000);
  await until(() => stub.received.length >= 1, 'a first cycle', 15_000);
  let reached: { slot: number; committedAt: number } | undefined;
  for (let trial = 0; trial < 15 && reached === undefined; trial++) {
    const slot = Math.ceil((Date.now() + 1000) / 2000) * 2000;
    // A timer to near the moment, then a short spin (in the test, not the agent) to land on it.
    await new Promise((r) => setTimeout(r, slot - 90 - Date.now()));
    while (Date.now() < slot - 50);
    const at = Date.now();
    await pause(t.db, { action: 'pause', symbol: '*', scope: 'execution', args: {}, reason: '50 ms before', by: 'test', at, until: null, abort: false });
    const committedAt = Date.now();
    // A loaded machine may wake this test late: the commit must land well before the slot to test what it claims.
    // After the claim (100 ms ahead), before the last look (20 ms ahead): what only the last look can catch.
    if (at >= slot - 90 && committedAt <= slot - 30) reached = { slot, committedAt };
    else {
      await until(async () => (await t.db.selectFrom('cycles').select('id').where('scheduled_at', '=', slot).where('status', '!=', 'running').execute()).length === 1, 'the slot to end', 10_000);
      await resume(t.db, { action: 'resume', symbol: '*', scope: 'execution', args: {}, reason: undefined, by: 'test', at: Date.now() });
    }
  }
  assert.ok(reached, 'a commit landed 30–90 ms before a slot');
  const { slot } = reached;
  await until(async () => (await t.db.selectFrom('cycles').select('id').where('scheduled_at', '=', slot).where('status', '!=', 'running').execute()).length === 1, 'the slot to end', 10_000);
  const row = await t.db.selectFrom('cycles').select(['idempotency_key', 'execution_off']).where('scheduled_at', '=', slot).executeTakeFirstOrThrow();
  const sent = bodies(stub).filter((p) => p.key === row.idempotency_key);
  assert.deepEqual(sent.map((p) => p.body.triggerExecution), [false], `the slot ${new Date(slot).toISOString()} went analysis-only\n${outputOf(agent)}`);
  assert.deepEqual(await stopReplicas([agent]), [0]);
});
