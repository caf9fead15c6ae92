import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createHistoryStore } from '../../src/store/history/history-store.ts';
import { openDatabase } from '../../src/store/open.ts';
import type { Percentiles } from '../../src/store/history/stats/stats-model.ts';
import { tempDatabaseOn, testOnEveryBackend } from '../helpers/backends.ts';
import { everySecondAgent, runCli } from '../helpers/cli-process.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { attemptRows, cycleRows } from '../helpers/history-rows.ts';
import { runMain } from '../helpers/run-main.ts';
import { scene } from '../helpers/scene.ts';
import { nearestRank } from '../helpers/seeded-random.ts';
import { seedAgent, seedCycle } from '../helpers/seed-history.ts';
import { until, within } from '../helpers/wait.ts';

// `stats` reports measurements, not the plan (issue 24 items 12 and 13): fire lateness from when each request left,
// and expected/missed slots that only count slots an agent owed.

const iso = (ms: number) => new Date(ms).toISOString();
const percentiles = (values: number[]): Percentiles => ({ count: values.length, p50: nearestRank(values, 50), p95: nearestRank(values, 95), p99: nearestRank(values, 99), max: Math.max(...values) });

testOnEveryBackend('fire lateness is when the first request left minus its slot (the send time written with the attempt\'s finish), not the planned start', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const store = createHistoryStore(t.db, (s) => s);
    const slot = Date.UTC(2024, 0, 22, 10, 0, 0);
    // As the agent records a cycle: its start is the slot (the plan); the request left 7 ms later.
    const id = (await store.claimCycle({ symbol: 'BTC/USDT', timeframe: '1m', trigger: 'schedule', scheduledAt: slot, deadlineAt: slot + 60_000, startedAt: slot, idempotencyKey: 'k-1', owner: 'h:1' }))!;
    const attempt = await store.startAttempt({ cycleId: id, number: 1, requestId: 'r-1', startedAt: slot });
    await store.finishAttempt(attempt, { finishedAt: slot + 250, sentAt: slot + 7, durationMs: 250, outcome: 'ok', httpStatus: 200 });
    await store.finishCycle(id, { finishedAt: slot + 251, status: 'succeeded', attempts: 1, executed: false });
    const r = await runMain(['stats', '--json', '--since', iso(slot - 1000), '--until', iso(slot + 60_000), '--db', t.path]);
    assert.equal(r.code, 0, r.err.join('\n'));
    assert.deepEqual(JSON.parse(r.text).total.latenessMs, percentiles([7]));
  } finally {
    await t.cleanup();
  }
});

test('a spawned agent records when each request left; `stats` reports lateness from those send times', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const db = join(s.dir(), 'history.db');
  const agent = s.cli(['run'], everySecondAgent(stub.url, db, { STATS_INTERVAL_MS: '0' }));
  await until(() => agent.stdout.filter((l) => /Scalping cycle completed successfully/.test(l)).length >= 4, 'four cycles', 30_000);
  agent.kill('SIGTERM');
  assert.equal((await within(agent.exited, 15_000, 'the agent to stop')).code, 0, agent.stderr.join('\n'));

  const opened = await openDatabase({ kind: 'sqlite', path: db }, { readonly: true });
  const cycles = (await cycleRows(opened.db)).filter((c) => c.trigger === 'schedule' && c.status === 'succeeded');
  const attempts = await attemptRows(opened.db);
  await opened.close();
  assert.ok(cycles.length >= 4, `${cycles.length} scheduled cycles`);
  const lateness: number[] = [];
  for (const c of cycles) {
    const first = attempts.find((a) => a.cycle_id === c.id && a.number === 1)!;
    const sentAt = first.sent_at;
    assert.equal(typeof sentAt, 'number', `cycle ${c.id}: the first attempt's send time is recorded`);
    // The request arrived after it left, and left after its send stamp (the x-sent-at header, read just before).
    const got = stub.received.find((q) => q.headers['idempotency-key'] === c.idempotency_key)!;
    assert.ok(got, `cycle ${c.id} reached the stub`);
    const stamp = Math.floor(Number(got.headers['x-sent-at']));
    assert.ok(sentAt! >= Number(c.scheduled_at) && sentAt! >= stamp && sentAt! <= got.at, `cycle ${c.id}: slot ${c.scheduled_at} ≤ stamp ${stamp} ≤ sent ${sentAt} ≤ arrival ${got.at}`);
    lateness.push(sentAt! - Number(c.scheduled_at));
  }
  const stats = await runCli(['stats', '--json', '--window', 'all', '--db', db]);
  assert.equal(stats.code, 0, stats.err);
  assert.deepEqual(JSON.parse(stats.out).total.latenessMs, percentiles(lateness), `send times minus slots: ${lateness.join(', ')} ms`);
});

testOnEveryBackend('two replicas with a startup cycle keyed by the slot before either started: `stats --window all` misses no slot', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    // As on PostgreSQL: replica-a and replica-b start 0.4 s and 0.7 s after slot K; the startup cycle is keyed by K
    // (claims.ts), a slot that passed before either ran. Then every slot fires, alternately, until both stop cleanly.
    const K = Math.floor(Date.now() / 1000) * 1000 - 40_000;
    const stop = K + 20_500;
    await seedAgent(t.db, { host: 'replica-a', startedAt: K + 400, heartbeatAt: stop - 500, stoppedAt: stop, cron: '* * * * * *' });
    await seedAgent(t.db, { host: 'replica-b', startedAt: K + 700, heartbeatAt: stop - 500, stoppedAt: stop, cron: '* * * * * *' });
    await seedCycle(t.db, { scheduledAt: K, trigger: 'startup', startedAt: K + 420, owner: 'replica-a:1' });
    for (let i = 1; i <= 20; i++) await seedCycle(t.db, { scheduledAt: K + i * 1000, owner: i % 2 ? 'replica-a:1' : 'replica-b:1' });
    const r = await runCli(['stats', '--json', '--window', 'all', '--db', t.path]);
    assert.equal(r.code, 0, r.err);
    const total = JSON.parse(r.out).total;
    assert.deepEqual([total.cycles, total.expectedSlots, total.missedSlots], [21, 20, 0], 'the 20 slots after the start, all fired');
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('`stats --until 1s` (a second ago) expects every slot of its window (only slots older than 5 s can be missed)', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    // Rows for every second from 20 s ago to 40 s ahead: whenever the spawned `stats` reads its clock, every slot of
    // its window (to a second before that) has its row, so expected must equal the cycles counted.
    const start = Math.floor(Date.now() / 1000) * 1000 - 20_000;
    await seedAgent(t.db, { startedAt: start - 500, heartbeatAt: Date.now(), cron: '* * * * * *' });
    for (let i = 0; i < 60; i++) await seedCycle(t.db, { scheduledAt: start + i * 1000 });
    const r = await runCli(['stats', '--json', '--since', iso(start), '--until', '1s', '--db', t.path]);
    assert.equal(r.code, 0, r.err);
    const total = JSON.parse(r.out).total;
    assert.ok(total.cycles >= 20 && total.cycles < 60, `${total.cycles} cycles in the window`);
    assert.deepEqual([total.expectedSlots, total.missedSlots], [total.cycles, 0], 'each slot up to a second ago, each with its row');
  } finally {
    await t.cleanup();
  }
});
