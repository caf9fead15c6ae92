import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { CronPattern } from '../../src/time/cron-pattern.ts';
import { pattern as cron } from '../helpers/cron.ts';
import { slotCounter } from '../../src/store/history/stats/missed-slots.ts';
import { sparkline, successBar } from '../../src/reports/render-stats.ts';
import { formatSummary } from '../../src/reports/render-summary.ts';
import { queryStats } from '../../src/store/history/stats/stats-query.ts';
import type { Percentiles } from '../../src/store/history/stats/stats-model.ts';
import { onTerminal, runCli, spawnCli } from '../helpers/cli-process.ts';
import { runMain } from '../helpers/run-main.ts';
import { nearestRank, seededRandom } from '../helpers/seeded-random.ts';
import { PG_URL, tempDatabaseOn, testOnEveryBackend } from '../helpers/backends.ts';
import { seedAgent, seedCycle } from '../helpers/seed-history.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

// Every test that reads a database runs against SQLite and PostgreSQL (each test in a schema of its own).

const MIN = 60_000;
const T0 = Date.UTC(2024, 0, 22, 10, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();
const expectedPercentiles = (values: number[]): Percentiles => ({
  count: values.length,
  p50: nearestRank(values, 50),
  p95: nearestRank(values, 95),
  p99: nearestRank(values, 99),
  max: Math.max(...values),
});

testOnEveryBackend('percentiles of Diego latency and fire lateness match the ones computed here, per symbol and in total', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const random = seededRandom(7);
    const latency: Record<string, number[]> = { 'BTC/USDT': [], 'ETH/USDT': [] };
    const lateness: Record<string, number[]> = { 'BTC/USDT': [], 'ETH/USDT': [] };
    for (let i = 0; i < 257; i++) {
      const symbol = i % 3 === 0 ? 'ETH/USDT' : 'BTC/USDT';
      const scheduledAt = T0 + i * MIN;
      const late = Math.floor(random() * 40);
      const ok = 50 + Math.floor(random() * 5000);
      // Every fifth cycle needed a retry: the failed attempt's duration must not count as Diego latency.
      const attempts = i % 5 === 0 ? [{ outcome: 'http_error' as const, durationMs: 99_999 }, { outcome: 'ok' as const, durationMs: ok }] : [{ outcome: 'ok' as const, durationMs: ok }];
      await seedCycle(t.db, { scheduledAt, symbol, startedAt: scheduledAt + late, attempts });
      latency[symbol]!.push(ok);
      lateness[symbol]!.push(late);
    }
    // Outside the window, and a startup cycle (its "lateness" is not a slot's): neither counts.
    await seedCycle(t.db, { scheduledAt: T0 - MIN, attempts: [{ durationMs: 1 }] });
    await seedCycle(t.db, { scheduledAt: T0 + 30_000, trigger: 'startup', startedAt: T0 + 99_000, attempts: [{ durationMs: 7 }] });
    latency['BTC/USDT']!.push(7);

    const window = { since: T0, until: T0 + 257 * MIN, now: Date.now() };
    const r = await queryStats(t.db, window);
    for (const symbol of ['BTC/USDT', 'ETH/USDT']) {
      assert.deepEqual(r.symbols[symbol]!.latency, expectedPercentiles(latency[symbol]!), `${symbol} latency`);
      assert.deepEqual(r.symbols[symbol]!.lateness, expectedPercentiles(lateness[symbol]!), `${symbol} lateness`);
    }
    assert.deepEqual(r.total.latency, expectedPercentiles([...latency['BTC/USDT']!, ...latency['ETH/USDT']!]));
    assert.deepEqual(r.total.lateness, expectedPercentiles([...lateness['BTC/USDT']!, ...lateness['ETH/USDT']!]));

    // The same numbers through the CLI's JSON.
    const cli = await runMain(['stats', '--json', '--since', iso(window.since), '--until', iso(window.until), '--db', t.path]);
    assert.equal(cli.code, 0, cli.err.join('\n'));
    const json = JSON.parse(cli.text);
    assert.deepEqual(json.total.latencyMs, expectedPercentiles([...latency['BTC/USDT']!, ...latency['ETH/USDT']!]));
    assert.deepEqual(json.symbols['ETH/USDT'].latenessMs, expectedPercentiles(lateness['ETH/USDT']!));
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('percentiles on tiny and tied series: nearest rank, as computed here', async (backend) => {
  for (const values of [[5], [1, 2], [10, 20, 30, 40], [3, 3, 3, 1, 1, 9, 9, 9, 9, 2], Array.from({ length: 101 }, (_, i) => 100 - i)]) {
    const t = await tempDatabaseOn(backend);
    try {
      for (const [i, v] of values.entries()) await seedCycle(t.db, { scheduledAt: T0 + i * MIN, attempts: [{ durationMs: v }] });
      const r = await queryStats(t.db, { since: T0, now: Date.now() });
      assert.deepEqual(r.total.latency, expectedPercentiles(values), JSON.stringify(values));
    } finally {
      await t.cleanup();
    }
  }
});

testOnEveryBackend('counts: statuses, success and retry rates, attempts per cycle, failed attempts by outcome, orders, last success and failure, streak', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const at = (i: number) => T0 + i * MIN;
    // BTC: ok, ok(retried), failed, skipped, failed, interrupted, failed → streak 3 (skipped/interrupted do not break it).
    await seedCycle(t.db, { scheduledAt: at(0) });
    const lastOk = await seedCycle(t.db, { scheduledAt: at(1), attempts: [{ outcome: 'timeout' }, { outcome: 'ok' }], executed: false });
    await seedCycle(t.db, { scheduledAt: at(2), status: 'failed', attempts: [{ outcome: 'http_error' }, { outcome: 'http_error' }, { outcome: 'timeout' }] });
    await seedCycle(t.db, { scheduledAt: at(3), status: 'skipped' });
    await seedCycle(t.db, { scheduledAt: at(4), status: 'failed', attempts: [{ outcome: 'rejected' }] });
    await seedCycle(t.db, { scheduledAt: at(5), status: 'interrupted', attempts: [{ outcome: 'aborted' }] });
    const lastFail = await seedCycle(t.db, { scheduledAt: at(6), status: 'failed', attempts: [{ outcome: 'network_error', error: 'connect ECONNREFUSED' }], error: 'connect ECONNREFUSED' });
    // ETH: failed then ok → streak 0; one running cycle.
    await seedCycle(t.db, { scheduledAt: at(0), symbol: 'ETH/USDT', status: 'failed', attempts: [{ outcome: 'invalid_response' }] });
    const ethOk = await seedCycle(t.db, { scheduledAt: at(1), symbol: 'ETH/USDT' });
    await seedCycle(t.db, { scheduledAt: at(2), symbol: 'ETH/USDT', status: 'running', attempts: [{ outcome: null }] });

    const r = await queryStats(t.db, { since: T0, until: at(10), now: Date.now() });
    const btc = r.symbols['BTC/USDT']!;
    assert.deepEqual(btc.byStatus, { succeeded: 2, failed: 3, skipped: 1, interrupted: 1, running: 0 });
    assert.equal(btc.cycles, 7);
    assert.equal(btc.successRate, 2 / 6);
    assert.equal(btc.attempts, 1 + 2 + 3 + 1 + 1 + 1);
    assert.equal(btc.attemptsPerCycle, 9 / 6);
    assert.equal(btc.retryRate, 2 / 6);
    assert.deepEqual(btc.failuresByOutcome, { timeout: 2, http_error: 2, rejected: 1, aborted: 1, network_error: 1 });
    assert.equal(btc.executions, 1);
    assert.equal(btc.lastSuccess?.cycleId, lastOk);
    assert.deepEqual(btc.lastFailure && { id: btc.lastFailure.cycleId, error: btc.lastFailure.error }, { id: lastFail, error: 'connect ECONNREFUSED' });
    assert.equal(btc.failureStreak, 3);

    const eth = r.symbols['ETH/USDT']!;
    assert.deepEqual(eth.byStatus, { succeeded: 1, failed: 1, skipped: 0, interrupted: 0, running: 1 });
    assert.equal(eth.successRate, 1 / 2);
    assert.equal(eth.failureStreak, 0);
    assert.equal(eth.lastSuccess?.cycleId, ethOk);

    assert.equal(r.total.cycles, 10);
    assert.deepEqual(r.total.byStatus, { succeeded: 3, failed: 4, skipped: 1, interrupted: 1, running: 1 });
    assert.equal(r.total.successRate, 3 / 8);
    assert.equal(r.total.failureStreak, 3, 'the worst symbol');
    assert.equal(r.total.lastFailure?.cycleId, lastFail);
    assert.equal(r.total.failuresByOutcome.invalid_response, 1);

    // The window bounds the counts, not the last success: before the streak's failures, "until" cuts them off.
    const early = await queryStats(t.db, { since: at(2), until: at(3), now: Date.now() });
    assert.equal(early.symbols['BTC/USDT']!.cycles, 1);
    assert.equal(early.symbols['BTC/USDT']!.lastSuccess?.cycleId, lastOk);
    assert.equal(early.symbols['BTC/USDT']!.failureStreak, 1);

    // The agent's summary line is built from the same report.
    assert.match(formatSummary('Last 600 s', r), /^Last 600 s: 10 cycles \(3 succeeded, 4 failed, 1 skipped, 1 interrupted, 1 running\) · success 37\.5% · .* · 3 failed in a row · last success /);
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('missed slots across a known gap: slots of the pattern with no scheduled cycle, per symbol, in total and per bucket', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    // Every minute for an hour, minutes 20–29 missing (the agent was down); a startup cycle at 20:30 is not a slot.
    for (let m = 0; m < 60; m++) if (m < 20 || m >= 30) await seedCycle(t.db, { scheduledAt: T0 + m * MIN });
    await seedCycle(t.db, { scheduledAt: T0 + 20 * MIN + 30_000, trigger: 'startup' });
    // ETH started at minute 40: its slots count from its first row, so it missed none.
    for (let m = 40; m < 60; m++) await seedCycle(t.db, { scheduledAt: T0 + m * MIN, symbol: 'ETH/USDT' });
    // A skipped slot has its row: not missed.
    await t.db.updateTable('cycles').set({ status: 'skipped' }).where('scheduled_at', '=', T0 + 45 * MIN).where('symbol', '=', 'BTC/USDT').execute();

    const r = await queryStats(t.db, { since: T0, until: T0 + 60 * MIN, now: T0 + 10 * 60 * MIN, cron: cron('0 * * * * *'), buckets: 24 });
    assert.deepEqual([r.symbols['BTC/USDT']!.expectedSlots, r.symbols['BTC/USDT']!.missedSlots], [60, 10]);
    assert.deepEqual([r.symbols['ETH/USDT']!.expectedSlots, r.symbols['ETH/USDT']!.missedSlots], [20, 0]);
    assert.deepEqual([r.total.expectedSlots, r.total.missedSlots], [80, 10]);
    // 24 buckets of 2.5 min: minutes 20–22 | 23–24 | 25–27 | 28–29.
    assert.deepEqual(
      r.buckets.map((b) => b.missedSlots),
      r.buckets.map((_, i) => ({ 8: 3, 9: 2, 10: 3, 11: 2 })[i] ?? 0),
    );
    assert.equal(r.buckets.length, 24);
    assert.deepEqual([r.buckets[0]!.start, r.buckets[23]!.end], [T0, T0 + 60 * MIN]);
    assert.equal(r.buckets[8]!.cycles, 1, 'the startup cycle at 20:30');

    // Slots of the last few seconds are not missed yet: their rows may be a moment from being written.
    const fresh = await queryStats(t.db, { since: T0 + 50 * MIN, now: T0 + 60 * MIN + 2_000, cron: cron('0 * * * * *') });
    assert.equal(fresh.symbols['BTC/USDT']!.missedSlots, 0);
    const later = await queryStats(t.db, { since: T0 + 50 * MIN, now: T0 + 62 * MIN, cron: cron('0 * * * * *') });
    assert.equal(later.symbols['BTC/USDT']!.missedSlots, 2, 'minutes 60 and 61 have no row');

    // Without a pattern nothing is counted.
    assert.equal((await queryStats(t.db, { since: T0, now: Date.now() })).total.missedSlots, null);

    // The CLI takes the pattern from the newest agent row, or from --cron.
    // An agent that ran the whole hour (its last heartbeat at the end): the gap is missed slots, not downtime.
    await seedAgent(t.db, { startedAt: T0, heartbeatAt: T0 + 60 * MIN, cron: '0 * * * * *', symbols: ['BTC/USDT'] });
    const args = ['stats', '--json', '--since', iso(T0), '--until', iso(T0 + 60 * MIN), '--db', t.path];
    const fromAgent = JSON.parse((await runMain(args, { CRON_PATTERN: '*/10 * * * * *' })).text);
    assert.deepEqual([fromAgent.cron, fromAgent.total.missedSlots], ['0 * * * * *', 10]);
    const overridden = JSON.parse((await runMain([...args, '--cron', '*/30 * * * * *'])).text);
    assert.deepEqual([overridden.cron, overridden.symbols['BTC/USDT'].expectedSlots, overridden.symbols['BTC/USDT'].missedSlots], ['*/30 * * * * *', 120, 70]);
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('live control in stats: slots skipped while paused are counted apart and not missed; run-now cycles are counted, and not as missed-slot fillers', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    // Ten minutes every minute; minutes 3–5 paused (skipped rows, reason paused); a run-now cycle at 6:30.
    for (let m = 0; m < 10; m++) await seedCycle(t.db, { scheduledAt: T0 + m * MIN, ...(m >= 3 && m <= 5 ? { status: 'skipped' as const, reason: 'paused' } : {}) });
    await seedCycle(t.db, { scheduledAt: T0 + 6 * MIN + 30_000, trigger: 'manual' });
    const r = await queryStats(t.db, { since: T0, until: T0 + 10 * MIN, now: T0 + 60 * MIN, cron: cron('0 * * * * *') });
    assert.deepEqual([r.total.pausedSlots, r.total.manualCycles, r.total.missedSlots, r.total.byStatus.skipped, r.total.cycles], [3, 1, 0, 3, 11]);
    const text = await runMain(['stats', '--since', iso(T0), '--until', iso(T0 + 10 * MIN), '--cron', '0 * * * * *', '--db', t.path]);
    assert.match(text.text, /live control +3 slot\(s\) skipped while paused, 1 run-now cycle\(s\)/);
    const history = await runMain(['history', '--trigger', 'manual', '--json', '--db', t.path]);
    assert.deepEqual((JSON.parse(history.text) as { trigger: string }[]).map((c) => c.trigger), ['manual']);
  } finally {
    await t.cleanup();
  }
});

/** The plain way: walk the pattern slot by slot. */
function walk(p: CronPattern, from: number, to: number): number {
  let n = 0;
  for (let s = p.next(from - 1); s < to; s = p.next(s)) n++;
  return n;
}

test('slot counting is exact against a slot-by-slot walk, across DST changes and half-hour time zones', () => {
  const saved = process.env.TZ;
  try {
    const patterns = ['* * * * * *', '*/7 * * * * *', '0 */15 9-17 * * 1-5', '30 0 * * * *', '* 30 2 * * *', '*/2 * 2,3 * * *', '0 0 0 * * *'];
    const windows = [
      [Date.parse('2024-03-30T20:00:00.500Z'), Date.parse('2024-04-01T03:17:00Z')], // spring forward in Europe
      [Date.parse('2024-10-26T21:59:59Z'), Date.parse('2024-10-28T01:00:01Z')], // fall back in Europe
      [Date.parse('2024-01-22T10:00:00Z'), Date.parse('2024-01-22T10:00:00Z')], // empty
      [Date.parse('2024-01-22T10:00:00Z'), Date.parse('2024-01-22T10:00:01Z')], // one slot of every second
    ] as const;
    for (const tz of ['UTC', 'Europe/Paris', 'Asia/Kolkata', 'America/New_York']) {
      process.env.TZ = tz;
      for (const text of patterns) {
        const p = cron(text);
        const count = slotCounter(p);
        for (const [from, to] of windows) assert.equal(count(from, to), walk(p, from, to), `${tz} "${text}" ${iso(from)}..${iso(to)}`);
      }
    }
    // Seven days at every second: 604,800 slots, counted without walking them.
    process.env.TZ = 'Europe/Paris';
    const started = performance.now();
    assert.equal(slotCounter(cron('* * * * * *'))(T0, T0 + 7 * 86_400_000), 604_800);
    assert.ok(performance.now() - started < 200, `took ${performance.now() - started} ms`);
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

testOnEveryBackend('stats --by replica: the numbers per replica that ran the cycles; missed slots stay the job\'s, in the total', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    // Two replicas share an hour of every-minute slots of BTC/USDT, 'a' the even minutes, 'b' the odd ones, except
    // minutes 20–24 (nobody ran them); 'b' also failed its last 3.
    for (let m = 0; m < 60; m++) {
      if (m >= 20 && m < 25) continue;
      const owner = m % 2 === 0 ? 'replica-a' : 'replica-b';
      const failed = owner === 'replica-b' && m > 53;
      await seedCycle(t.db, { scheduledAt: T0 + m * MIN, owner, status: failed ? 'failed' : 'succeeded', attempts: [{ outcome: failed ? 'timeout' : 'ok', durationMs: owner === 'replica-a' ? 100 : 300 }] });
    }
    const args = ['stats', '--json', '--since', iso(T0), '--until', iso(T0 + 60 * MIN), '--cron', '0 * * * * *', '--db', t.path];
    const json = JSON.parse((await runMain([...args, '--by', 'replica'])).text);
    assert.deepEqual(Object.keys(json), ['since', 'until', 'cron', 'downtimeMs', 'clockChecks', 'total', 'replicas', 'buckets']);
    assert.deepEqual(Object.keys(json.replicas), ['replica-a', 'replica-b']);
    const [a, b] = [json.replicas['replica-a'], json.replicas['replica-b']];
    assert.deepEqual([a.cycles, a.byStatus.succeeded, a.latencyMs.p50, a.failureStreak], [27, 27, 100, 0]);
    assert.deepEqual([b.cycles, b.byStatus.succeeded, b.byStatus.failed, b.latencyMs.p50, b.failureStreak], [28, 25, 3, 300, 3]);
    assert.deepEqual([a.missedSlots, b.missedSlots], [null, null], 'a slot is missed by the job, not by a replica');
    assert.deepEqual([json.total.cycles, json.total.expectedSlots, json.total.missedSlots], [55, 60, 5]);

    // Grouped by symbol (the default), the same window: one job, the same total.
    const bySymbol = JSON.parse((await runMain(args)).text);
    assert.deepEqual(Object.keys(bySymbol.symbols), ['BTC/USDT']);
    assert.deepEqual([bySymbol.total.cycles, bySymbol.total.missedSlots], [55, 5]);

    const text = (await runMain([...args.filter((x) => x !== '--json'), '--by', 'replica'])).text;
    for (const title of ['Replica replica-a', 'Replica replica-b', 'All replicas']) assert.match(text, new RegExp(`^${title}$`, 'm'));
    assert.match(text, /missed slots\s+5 of 60 slot\(s\) had no cycle/);

    const bad = await runMain(['stats', '--by', 'host', '--db', t.path]);
    assert.deepEqual([bad.code, bad.err], [2, ['pmf-scheduler: Invalid --by "host": expected one of symbol, replica']]);
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('stats windows: 24h by default, --window 10m|1h|7d|all, --since, --until', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const now = Date.now();
    for (const ago of [5 * MIN, 30 * MIN, 3 * 3_600_000, 3 * 86_400_000, 30 * 86_400_000]) await seedCycle(t.db, { scheduledAt: now - ago });
    const cycles = async (...args: string[]) => {
      const r = await runMain(['stats', '--json', '--db', t.path, ...args]);
      assert.equal(r.code, 0, r.err.join('\n'));
      return JSON.parse(r.text).total.cycles as number;
    };
    assert.equal(await cycles(), 3);
    assert.equal(await cycles('--window', '10m'), 1);
    assert.equal(await cycles('--window', '1h'), 2);
    assert.equal(await cycles('--window', '24h'), 3);
    assert.equal(await cycles('--window', '7d'), 4);
    assert.equal(await cycles('--window', 'all'), 5);
    assert.equal(await cycles('--since', '2h'), 2);
    assert.equal(await cycles('--since', '7d', '--until', '1h'), 2);
    assert.equal(await cycles('--window', '1h', '--until', '20m'), 1, 'the window ends at --until');
    const all = JSON.parse((await runMain(['stats', '--json', '--window', 'all', '--db', t.path])).text);
    assert.equal(all.since, iso(now - 30 * 86_400_000), '"all" starts at the oldest cycle');
    assert.equal(all.until, null);
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('stats --json: the documented fields', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    await seedCycle(t.db, { scheduledAt: T0 });
    const r = await runMain(['stats', '--json', '--since', iso(T0), '--until', iso(T0 + 10 * MIN), '--cron', '0 * * * * *', '--db', t.path]);
    const json = JSON.parse(r.text);
    assert.deepEqual(Object.keys(json), ['since', 'until', 'cron', 'downtimeMs', 'clockChecks', 'total', 'symbols', 'buckets']);
    assert.deepEqual(Object.keys(json.total), [
      'cycles', 'byStatus', 'successRate', 'attempts', 'attemptsPerCycle', 'retryRate', 'latencyMs', 'latenessMs',
      'failuresByOutcome', 'executions', 'pausedSlots', 'manualCycles', 'lastSuccess', 'lastFailure', 'failureStreak', 'expectedSlots', 'missedSlots',
    ]);
    assert.deepEqual(Object.keys(json.symbols), ['BTC/USDT']);
    assert.deepEqual(json.total.latencyMs, { count: 1, p50: 200, p95: 200, p99: 200, max: 200 });
    assert.deepEqual(json.total.lastSuccess, { cycleId: 1, at: iso(T0 + 202) });
    assert.equal(json.total.lastFailure, null);
    assert.deepEqual([json.total.expectedSlots, json.total.missedSlots], [10, 9]);
    assert.equal(json.buckets.length, 24);
    assert.deepEqual(Object.keys(json.buckets[0]), ['start', 'end', 'cycles', 'succeeded', 'ran', 'successRate', 'latencyP50Ms', 'latencyMaxMs', 'missedSlots']);
    assert.deepEqual(json.buckets[0], { start: iso(T0), end: iso(T0 + 25_000), cycles: 1, succeeded: 1, ran: 1, successRate: 1, latencyP50Ms: 200, latencyMaxMs: 200, missedSlots: 0 });
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('stats text: a block per symbol and for all, then sparklines of success, latency and missed slots per bucket', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    for (let m = 0; m < 48; m++) {
      if (m >= 10 && m < 14) continue; // a gap for both symbols
      const failed = m >= 30 && m < 36;
      await seedCycle(t.db, { scheduledAt: T0 + m * MIN, status: failed ? 'failed' : 'succeeded', attempts: [{ outcome: failed ? 'timeout' : 'ok', durationMs: 100 + m * 10 }] });
      await seedCycle(t.db, { scheduledAt: T0 + m * MIN, symbol: 'ETH/USDT' });
    }
    const r = await runMain(['stats', '--since', iso(T0), '--until', iso(T0 + 48 * MIN), '--cron', '0 * * * * *', '--db', t.path]);
    assert.equal(r.code, 0, r.err.join('\n'));
    const text = r.text;
    assert.match(text, /^Stats since 2024-01-22T10:00:00.000Z until 2024-01-22T10:48:00.000Z \(2024-01-22 10:00:00 → 2024-01-22 10:48:00 UTC, pattern "0 \* \* \* \* \*"\)/);
    for (const title of ['BTC/USDT', 'ETH/USDT', 'All symbols']) assert.match(text, new RegExp(`^${title.replace('/', '\\/')}$`, 'm'));
    assert.match(text, /cycles\s+44 \(38 succeeded, 6 failed\)/);
    assert.match(text, /missed slots\s+4 of 48 slot\(s\) had no cycle/);
    assert.match(text, /failed attempts\s+timeout 6/);
    const lines = text.split('\n').slice(text.split('\n').findIndex((l) => l.startsWith('Per ')));
    const spark = (label: string) => lines.find((l) => l.trimStart().startsWith(label))!.replace(/^\s*\S+( p50)?\s+/, '').slice(0, 24);
    assert.equal(spark('success').length, 24);
    // The gap's two buckets have no cycle (·); minutes 30–35 are half failed (▃, at least 50 %).
    assert.equal(spark('success'), `${'█'.repeat(5)}··${'█'.repeat(8)}▃▃▃${'█'.repeat(6)}`);
    assert.equal(spark('missed'), '·····██·················');
    assert.match(lines.find((l) => l.includes('latency p50'))!, /█ = /);
    assert.match(text, /^Per 2m 00s \(oldest left\)$/m);

    const empty = await tempDatabaseOn(backend);
    try {
      const e = await runMain(['stats', '--db', empty.path]);
      assert.deepEqual([e.code, e.text], [0, 'No cycles yet']);
    } finally {
      await empty.cleanup();
    }
  } finally {
    await t.cleanup();
  }
});

test('success bars tell the top apart without colour: only 100 % is █, and 93 % is not drawn like it', () => {
  assert.deepEqual([1, 0.995, 0.97, 0.93, 0.8, 0.5, 0.01, 0].map(successBar), ['█', '▇', '▆', '▅', '▄', '▃', '▂', '▁']);
  assert.notEqual(successBar(0.93), successBar(1));
});

test('sparkline: one character per value, scaled to the max; no data is a space', () => {
  assert.equal(sparkline([0, 0.5, 1, null, 2], 1), '▁▅█ █');
  assert.equal(sparkline([0, 0], 0), '▁▁');
  assert.equal(sparkline([], 1), '');
});

testOnEveryBackend('stats bad arguments and a missing database: exit 2 with one line; nothing created', async (backend) => {
  const t = await tempDatabaseOn(backend);
  const dir = tempDir();
  try {
    const cases: [string[], RegExp][] = [
      [['--window', 'week'], /^pmf-scheduler: Invalid --window "week": expected all or a duration such as 30m, 2h, 7d or 1h30m$/],
      [['--window', '0h'], /Invalid --window "0h"/],
      [['--since', 'yesterday'], /^pmf-scheduler: Invalid --since "yesterday": expected a time/],
      [['--until', 'tomorrow'], /Invalid --until "tomorrow"/],
      [['--since', '1h', '--window', '2h'], /--since and --window both set the window start: give one/],
      [['--cron', '* * *'], /^pmf-scheduler: Invalid --cron "\* \* \*": expected a cron pattern with 5 or 6 fields/],
      [['--since', '1h', '--until', '2h'], /is not before/],
    ];
    for (const [args, says] of cases) {
      const r = await runMain(['stats', '--db', t.path, ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.deepEqual(r.out, []);
      assert.equal(r.err.length, 1, r.err.join(' | '));
      assert.match(r.err[0]!, says);
    }
    const path = backend === 'sqlite' ? join(dir.dir, 'missing.db') : PG_URL.replace(/\/test$/, '/missing_db');
    const missing = await runMain(['stats'], { DATABASE_URL: path });
    assert.equal(missing.code, 2);
    assert.match(missing.err.join('\n'), /does not exist/);
    assert.equal(existsSync(path), false);
  } finally {
    await t.cleanup();
    dir.cleanup();
  }
});

testOnEveryBackend('after a clean stop, the hours no agent ran are downtime, said apart, not missed slots (the built CLI); a crashed agent\'s gap still counts', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    // An agent ran every minute from 3 h ago to 2 h ago, then stopped cleanly; nothing ran since.
    const now = Math.floor(Date.now() / MIN) * MIN;
    const start = now - 180 * MIN;
    const stop = now - 120 * MIN;
    for (let m = 0; m < 60; m++) await seedCycle(t.db, { scheduledAt: start + m * MIN });
    await seedAgent(t.db, { startedAt: start - 1000, heartbeatAt: stop, stoppedAt: stop, cron: '0 * * * * *' });

    const cli = spawnCli(['stats', '--window', '4h', '--db', t.path], {});
    assert.equal((await within(cli.exited, 10_000, 'stats to exit')).code, 0, cli.stderr.join('\n'));
    const text = cli.stdout.join('\n');
    // From the stop to now less the 5 s grace (MISSED_GRACE_MS): 2 h and the seconds since the minute began, less 5 s.
    assert.match(text, /^No agent ran for (1h 59m|2h 0\dm) of it: its slots then are downtime, not missed slots$/m);
    assert.match(text, /missed slots\s+0 of 60 slot\(s\) had no cycle/);
    assert.match(text, /  missed       ·{24}/, 'no bucket shows missed slots');

    const json = await runMain(['stats', '--json', '--window', '4h', '--db', t.path]);
    const report = JSON.parse(json.text) as { downtimeMs: number; total: { missedSlots: number } };
    assert.equal(report.total.missedSlots, 0);
    assert.ok(Math.abs(report.downtimeMs - 120 * MIN) < 2 * MIN, `downtimeMs ${report.downtimeMs}`);

    // An agent that died without a clean stop 30 minutes ago: from its last heartbeat plus 60 s it is downtime too,
    // but the slots it should have fired while it still counted as alive are missed.
    await seedAgent(t.db, { host: 'crashed', startedAt: now - 40 * MIN, heartbeatAt: now - 30 * MIN, cron: '0 * * * * *' });
    const after = JSON.parse((await runMain(['stats', '--json', '--window', '4h', '--db', t.path])).text) as { downtimeMs: number; total: { missedSlots: number } };
    assert.equal(after.total.missedSlots, 11, 'minutes -40 … -30 (to the heartbeat plus 60 s) had no cycle');
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('stats on an 80-column terminal: no line past 80 columns, none cut mid-word; piped, the same words on whole lines', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const error = 'HTTP 503 from Diego: upstream exchange gateway answered with a maintenance page and a very long explanation of why';
    for (let m = 0; m < 30; m++) await seedCycle(t.db, { scheduledAt: T0 + m * MIN, ...(m % 7 === 3 ? { status: 'failed' as const, attempts: [{ outcome: 'http_error', error }] } : {}) });
    const args = ['stats', '--since', iso(T0), '--until', iso(T0 + 30 * MIN), '--cron', '0 * * * * *', '--db', t.path];
    // The real CLI on an 80-column pseudo-terminal (its width read from its stdout), against the same command piped.
    const [withoutDb, env] = [args.slice(0, -2), { DATABASE_URL: t.path }];
    const visible = onTerminal(withoutDb, 80, env).trimEnd();
    const piped = await runCli(withoutDb, env);
    assert.equal(piped.code, 0, piped.err);
    for (const l of visible.split('\n')) assert.ok(l.length <= 80 && l === l.trimEnd(), `${JSON.stringify(l)} is ${l.length} columns`);
    assert.ok(piped.out.split('\n').some((l) => l.length > 80), 'piped, a long line stays whole (the test would prove nothing otherwise)');
    const words = (s: string) => s.split(/\s+/).filter(Boolean);
    assert.deepEqual(words(visible), words(piped.out));
  } finally {
    await t.cleanup();
  }
});
