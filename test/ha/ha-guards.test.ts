import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type SimulatorRequestRecord } from '../../src/diego/simulator.ts';
import { BACKENDS, backendTest, type BackendName } from '../helpers/backends.ts';
import { outputOf, stopReplicas } from '../helpers/replicas.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';

// Three agents of the built CLI sharing one database — the machine's PostgreSQL, or one SQLite file opened by three
// processes — every second, against the built-in simulator pinned to BUY (random 0.1), so every cycle sent with
// triggerExecution true places an order. The cap's pause is written once (a partial unique index on the guard), so
// replicas reaching it at once turn execution off once, whichever backend serialises them.

const CAP = 5;

describe('guard rails with agents sharing one database', { concurrency: 1 }, () => {
  for (const backend of BACKENDS) {
    test(`[${backend}] 3 agents placing an order every second reach MAX_ORDERS_PER_HOUR=${CAP}: execution goes off exactly once (one pause, one audit row), then every request is analysis only`, backendTest(backend), async (ctx) => {
      await ordersCap(ctx, backend);
    });
  }
});

async function ordersCap(ctx: TestContext, backend: BackendName): Promise<void> {
  const s = scene(ctx);
  const t = await s.database(backend);
  const seen: SimulatorRequestRecord[] = [];
  const sim = await startSimulator({ host: '127.0.0.1', port: 0, random: () => 0.1, onRequest: (r) => seen.push(r) });
  s.defer(() => sim.close());
  const replicas = ['replica-1', 'replica-2', 'replica-3'].map((id) => s.replica(id, { DATABASE_URL: t.path, DIEGO_URL: sim.url, MAX_ORDERS_PER_HOUR: String(CAP), SYMBOLS: 'BTC/USDT' }));
  const tripped = async () => (await t.db.selectFrom('control_audit').select('id').where('action', '=', 'guard').execute()).length > 0;
  await until(tripped, 'the orders cap to trip', 60_000).catch((err) => assert.fail(`${err}\n${replicas.map(outputOf).join('\n')}`));
  const trippedAt = Date.now();
  // Every replica applies it within 1 s; then 4 s more of slots, all analysis only.
  await until(async () => (await t.db.selectFrom('control_applied').select('owner').execute()).length >= 3, 'the three replicas to apply it', 10_000);
  const sentBefore = seen.length;
  await new Promise((resolve) => setTimeout(resolve, 4000));
  assert.deepEqual(await stopReplicas(replicas), [0, 0, 0], replicas.map(outputOf).join('\n'));

  const audit = await t.db.selectFrom('control_audit').selectAll().orderBy('id').execute();
  const guards = audit.filter((a) => a.action === 'guard');
  assert.equal(guards.length, 1, `exactly one audit row: ${JSON.stringify(audit)}`);
  assert.equal(guards[0]!.by_who, 'guard orders_cap');
  const pauses = await t.db.selectFrom('control_pauses').selectAll().execute();
  assert.deepEqual(pauses.map((p) => [p.guard, p.symbol, p.scope]), [['orders_cap', '*', 'execution']]);

  const orders = await t.db.selectFrom('cycles').select(['scheduled_at', 'owner', 'executed', 'execution_off']).where('executed', '=', 1).execute();
  assert.ok(orders.length >= CAP, `${orders.length} orders`);
  assert.ok(new Set(orders.map((o) => o.owner)).size > 1, `the orders came from more than one agent: ${JSON.stringify(orders.map((o) => o.owner))}`);
  const after = seen.slice(sentBefore);
  assert.ok(after.length >= 3, `requests went on after the trip, analysis only (${after.length})`);
  assert.deepEqual(after.filter((r) => (r.body as { triggerExecution?: boolean } | null)?.triggerExecution === true), [], 'no request with triggerExecution true once every replica applied the guard');
  const offRows = await t.db.selectFrom('cycles').select(['execution_off']).where('scheduled_at', '>', trippedAt + 1000).execute();
  assert.ok(offRows.length > 0 && offRows.every((r) => /execution paused by guard orders_cap/.test(r.execution_off ?? '')), JSON.stringify(offRows));
  // The figure for docs/reliability.md: how many orders past the cap landed before the trip took hold.
  console.log(`# [${backend}] orders cap ${CAP}: ${orders.length} order(s) placed in all (${orders.length - CAP} over the cap, in flight when it was reached)`);
}
