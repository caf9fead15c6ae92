import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import type { Kysely } from 'kysely';
import { BACKENDS, backendTest, type BackendName } from '../helpers/backends.ts';
import { runCli } from '../helpers/cli-process.ts';
import { analysisOk, type DiegoStub } from '../helpers/diego-stub.ts';
import { outputOf, stopReplicas, type Replica } from '../helpers/replicas.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';
import type { Schema } from '../../src/store/schema.ts';

// Issue 22, section 1: the database decides, not a copy. A REAL agent process is stopped (SIGSTOP) after it claimed
// its slot (its copy of the control state read, no pause in it), `pause --execution` (or `pause`) commits and
// returns, then the agent is continued: late for its slot, it re-reads the database before it sends, so nothing
// leaves with `triggerExecution: true` (nothing at all after `pause`). SQLite: two agents on one file; PostgreSQL:
// two replicas (MAX_LATENESS_MS far off: a stall is no reason to skip here, freshness has its own test). Slots every 5 s, so the pause commits far from any other slot's moment (no healthy agent is inside
// the last-look window by chance), whatever the machine's load; every wait is on an event, with generous bounds.

const PATTERN = '*/5 * * * * *';

/** The body of each POST the stub received, with its arrival time and Idempotency-Key. */
const posts = (stub: DiegoStub) => stub.received.map((r) => ({ at: r.at, key: String(r.headers['idempotency-key']), body: JSON.parse(r.body) as { triggerExecution: boolean } }));

/**
 * Waits for a claim (a `running` row for a slot still ahead, with its first attempt's row) and stops its owner at
 * once: both are written
 * PREPARE_LEAD_MS (100 ms) before the slot, so the stop lands between the copy's read and the send. A stop that
 * came too late (its POST already arrived) is released and the next slot tried. The claim's row and the agent.
 */
async function stopAfterClaim(db: Kysely<Schema>, agents: Replica[], stub: DiegoStub): Promise<{ agent: Replica; slot: number; key: string }> {
  for (let trial = 0; trial < 6; trial++) {
    let row: { owner: string; scheduled_at: number; idempotency_key: string } | undefined;
    const after = Date.now();
    await until(
      async () => {
        // The claim and its first attempt's row, both written ahead: stopped after them, the agent holds no SQLite
        // write lock while it is stopped (a stop inside a write would lock every other writer out, the pause too).
        row = await db
          .selectFrom('cycles')
          .innerJoin('attempts', 'attempts.cycle_id', 'cycles.id')
          .select(['owner', 'scheduled_at', 'idempotency_key'])
          .where('status', '=', 'running')
          .where('scheduled_at', '>', after)
          .executeTakeFirst();
        return row !== undefined;
      },
      'a claim of the next slot',
      15_000,
    );
    const agent = agents.find((a) => a.id === row!.owner)!;
    agent.kill('SIGSTOP');
    const stoppedAt = Date.now();
    // Given time to arrive, a POST sent before the stop would be here by now.
    await new Promise((r) => setTimeout(r, 300));
    if (stoppedAt < Number(row!.scheduled_at) && !posts(stub).some((p) => p.key === row!.idempotency_key)) return { agent, slot: Number(row!.scheduled_at), key: row!.idempotency_key };
    agent.kill('SIGCONT'); // too late for this slot (a loaded machine): the next one
  }
  throw new Error('could not stop an agent between its claim and its slot in 6 trials');
}

async function stalledAgainst(ctx: TestContext, backend: BackendName, command: string[]): Promise<void> {
  const s = scene(ctx);
  const t = await s.database(backend);
  const stub = await s.stub([{ status: 200, body: analysisOk('HOLD') }]);
  const agents = ['agent-1', 'agent-2'].map((id) => s.replica(id, { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: PATTERN, TRIGGER_EXECUTION: 'true', MAX_LATENESS_MS: '60000' }));
  await Promise.all(agents.map((a) => a.line(/Next fire time/, 30_000)));
  await until(() => posts(stub).some((p) => p.body.triggerExecution), 'a cycle with execution on before the kill switch', 20_000);

  let stopped: { agent: Replica; slot: number; key: string } | undefined;
  for (let trial = 0; trial < 3 && stopped === undefined; trial++) {
    const stop = await stopAfterClaim(t.db, agents, stub);
    let done: Awaited<ReturnType<typeof runCli>>;
    try {
      // The command commits after the slot's moment has come and gone for the stopped agent: it is late by then.
      await until(() => Date.now() > stop.slot + 200, 'the stalled slot to pass', 10_000);
      done = await runCli([...command, '--reason', 'kill switch test', '--db', t.path]);
    } finally {
      stop.agent.kill('SIGCONT');
    }
    // SQLite: an agent stopped inside one of its own writes (a heartbeat, a lease) holds the file's write lock, and
    // every other writer waits for it: the command could not commit. Not this test's case: the next slot.
    if (backend === 'sqlite' && done.code !== 0 && /database is locked/.test(done.err)) continue;
    assert.equal(done.code, 0, done.err);
    stopped = stop;
  }
  assert.ok(stopped, 'the command committed while an agent was stopped after its claim');
  const { agent, slot, key } = stopped;
  const returnedAt = Date.now();
  await agent.line(/ms late: control state re-read from the database before sending/, 15_000);
  // The next slot of every agent comes and goes under the pause too.
  await until(async () => (await t.db.selectFrom('cycles').select('id').where('scheduled_at', '>', slot + 5000).where('status', '!=', 'running').execute()).length >= 1, 'a slot after the pause', 20_000);
  assert.deepEqual(await stopReplicas(agents), [0, 0], agents.map(outputOf).join('\n'));

  const after = posts(stub).filter((p) => p.at >= returnedAt);
  const stalled = posts(stub).filter((p) => p.key === key);
  // By its slot: SQLite keeps the key as 16 bytes, which a filter cannot match (store/sqlite/uuid-blobs.ts).
  const row = await t.db.selectFrom('cycles').select(['status', 'reason', 'execution_off']).where('scheduled_at', '=', slot).where('trigger', '=', 'schedule').executeTakeFirstOrThrow();
  const all = agents.map(outputOf).join('\n');
  if (command.includes('--execution')) {
    assert.deepEqual(after.filter((p) => p.body.triggerExecution), [], `nothing with triggerExecution true after the kill switch returned\n${all}`);
    assert.deepEqual(stalled.map((p) => p.body.triggerExecution), [false], `the stalled slot went analysis-only\n${all}`);
  } else {
    assert.deepEqual(after, [], `nothing at all after the pause returned\n${all}`);
    assert.deepEqual(stalled, [], `the stalled slot was not sent\n${all}`);
    assert.deepEqual([row.status, row.reason], ['skipped', 'paused'], JSON.stringify(row));
  }
}

describe('the database decides: an agent stalled between its claim and its send obeys a kill switch committed meanwhile', { concurrency: false }, () => {
  for (const backend of BACKENDS) {
    test(`[${backend}] SIGSTOP after the claim, pause --execution commits, SIGCONT: nothing leaves with triggerExecution true`, backendTest(backend), async (ctx) => {
      await stalledAgainst(ctx, backend, ['pause', '--execution']);
    });
    test(`[${backend}] SIGSTOP after the claim, pause commits, SIGCONT: nothing leaves at all; the slot is recorded skipped (paused)`, backendTest(backend), async (ctx) => {
      await stalledAgainst(ctx, backend, ['pause']);
    });
  }
});
