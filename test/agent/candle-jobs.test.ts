import { test } from 'node:test';
import { readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import assert from 'node:assert/strict';
import { T0, startAgents } from '../helpers/agent-harness.ts';
import { backendTest, BACKENDS, tempDatabaseOn } from '../helpers/backends.ts';
import { analysisOk, startDiegoStub } from '../helpers/diego-stub.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { runCli } from '../helpers/cli-process.ts';
import { withHooks } from '../helpers/slot-hooks.ts';

// Candle-aligned jobs (issue 23 §2): runAgent in-process on a frozen fast clock (an hour passes in seconds, slot
// times exact whatever the load), the real Diego client against a real HTTP stub, a real SQLite file or the real
// PostgreSQL shared by replicas.

const MINUTE = 60_000;
const SYMBOLS = ['BTC/USDT', 'ETH/USDT'];

for (const backend of BACKENDS) {
  const replicas = backend === 'postgres' ? 3 : 1;
  test(`[${backend}] TIMEFRAMES=1m,5m over an hour: 60 + 12 slots per symbol, each at its candle's close, once across ${replicas} agent(s), deadlines at the job's next close`, backendTest(backend), async () => {
    const t = await tempDatabaseOn(backend);
    const stub = await startDiegoStub([{ status: 200, body: analysisOk() }]);
    // T0 is 10:00:00 UTC: the hour's slots are 10:01 … 11:00, the 5m ones 10:05 … 11:00.
    const group = await startAgents({
      target: t.target,
      count: replicas,
      frozen: true,
      slots: 60,
      env: { DIEGO_URL: stub.url, CRON_PATTERN: '', TIMEFRAMES: '5m,1m', SYMBOLS: SYMBOLS.join(','), RETRY_ATTEMPTS: '1' },
    });
    try {
      assert.deepEqual(await group.exits, Array(replicas).fill(0));
      const rows = await cycleRows(t.db);
      const minutes = Array.from({ length: 60 }, (_, k) => T0 + (k + 1) * MINUTE);
      for (const symbol of SYMBOLS) {
        const of = (tf: string) => rows.filter((r) => r.symbol === symbol && r.timeframe === tf);
        assert.deepEqual(of('1m').map((r) => Number(r.scheduled_at)), minutes, `${symbol} 1m: every minute's close, once each`);
        assert.deepEqual(of('5m').map((r) => Number(r.scheduled_at)), minutes.filter((m) => (m - T0) % (5 * MINUTE) === 0), `${symbol} 5m: every fifth minute, once each`);
        for (const r of of('1m')) assert.equal(Number(r.deadline_at), Number(r.scheduled_at) + MINUTE, 'a 1m cycle may run until the next minute');
        for (const r of of('5m')) assert.equal(Number(r.deadline_at), Number(r.scheduled_at) + 5 * MINUTE, 'a 5m cycle may run until its next close');
      }
      assert.equal(rows.length, SYMBOLS.length * 72);
      assert.deepEqual(new Set(rows.map((r) => r.status)), new Set(['succeeded']));
      // Diego got one request per job and slot, each saying its job's timeframe.
      assert.equal(stub.received.length, rows.length, 'no slot fired twice');
      const sent = stub.received.map((r) => JSON.parse(r.body) as { symbol: string; timeframe: string });
      for (const symbol of SYMBOLS) {
        assert.equal(sent.filter((b) => b.symbol === symbol && b.timeframe === '1m').length, 60);
        assert.equal(sent.filter((b) => b.symbol === symbol && b.timeframe === '5m').length, 12);
      }
      assert.equal(new Set(stub.received.map((r) => r.headers['idempotency-key'])).size, rows.length);
      if (replicas > 1) assert.ok(new Set(rows.map((r) => r.owner)).size > 1, 'the replicas shared the work');
      // `stats` counts each symbol's slots against the agents' recorded candles: 60 slots an hour, none missed.
      const stats = await runCli(['stats', '--since', new Date(T0).toISOString(), '--until', new Date(T0 + 61 * MINUTE).toISOString(), '--json', '--db', t.path]);
      assert.equal(stats.code, 0, stats.err);
      const report = JSON.parse(stats.out) as { cron: string; symbols: Record<string, { cycles: number; expectedSlots: number; missedSlots: number }> };
      assert.equal(report.cron, '1m candles | 5m candles');
      for (const symbol of SYMBOLS) {
        const s = report.symbols[symbol]!;
        assert.deepEqual([s.cycles, s.missedSlots], [72, 0], symbol);
        // Slots are expected while an agent lived: the last one, 11:00, is the moment the agents stopped.
        assert.ok(s.expectedSlots >= 59 && s.expectedSlots <= 60, `${symbol}: ${s.expectedSlots} slots expected, the union's (not 72)`);
      }
    } finally {
      await group.close();
      await stub.close();
      await t.cleanup();
    }
  });
}

/** Agents of `TIMEFRAMES=1m,5m` on BTC/USDT for `minutes` minutes from `start` (a whole hour: 5m closes every fifth). */
async function runJobs(target: Parameters<typeof startAgents>[0]['target'], diego: string, start: number, minutes: number, count: number, extra: Record<string, string> = {}): Promise<void> {
  const group = await startAgents({ target, count, start, frozen: true, slots: minutes, env: { DIEGO_URL: diego, CRON_PATTERN: '', TIMEFRAMES: '1m,5m', SYMBOLS: 'BTC/USDT', RETRY_ATTEMPTS: '1', ...extra } });
  try {
    assert.deepEqual(await group.exits, Array(count).fill(0));
  } finally {
    await group.close();
  }
}

for (const backend of BACKENDS) {
  const replicas = backend === 'postgres' ? 3 : 1;
  test(`[${backend}] pause --timeframe 5m (the real CLI) holds the 5m job only: its closes are recorded skipped (paused), the 1m job fires every minute; resume --timeframe 5m and it fires again`, backendTest(backend), async () => {
    const t = await tempDatabaseOn(backend);
    const stub = await startDiegoStub([{ status: 200, body: analysisOk() }]);
    const env = { DATABASE_URL: t.path, TIMEFRAMES: '1m,5m', SYMBOLS: 'BTC/USDT', CRON_PATTERN: '' };
    const db = ['--db', env.DATABASE_URL];
    // The agents' clocks start at the next whole hour of real time, so a pause the CLI writes now is in force for them.
    const start = Math.ceil(Date.now() / 3_600_000) * 3_600_000;
    try {
      const bad = await runCli(['pause', '--timeframe', '7m', '--reason', 'typo', ...db], env);
      assert.equal(bad.code, 2, bad.err);
      assert.equal(bad.err.trim(), 'pmf-scheduler: Invalid --timeframe "7m": expected one of 1m, 5m (the jobs\' TIMEFRAMES)');
      const paused = await runCli(['pause', '--timeframe', '5m', '--reason', 'slow candles', ...db], env);
      assert.equal(paused.code, 0, paused.err);
      assert.match(paused.out, /^Paused \(all symbols 5m\) by .*: slow candles$/m);

      // One agent writes a metrics file (replicas would share the path): each job has its own series.
      const metrics = join(tmpdir(), `pmf-candles-${process.pid}-${backend}.prom`);
      await runJobs(t.target, stub.url, start, 10, replicas, replicas === 1 ? { METRICS_FILE: metrics } : {});
      let rows = await cycleRows(t.db);
      if (replicas === 1) {
        const text = readFileSync(metrics, 'utf8');
        rmSync(metrics);
        assert.match(text, /^pmf_scheduler_job_cycles_total\{symbol="BTC\/USDT",timeframe="1m",status="succeeded"\} 10$/m);
        assert.match(text, /^pmf_scheduler_job_cycles_total\{symbol="BTC\/USDT",timeframe="5m",status="skipped"\} 2$/m);
        assert.match(text, /^pmf_scheduler_job_cycles_total\{symbol="BTC\/USDT",timeframe="5m",status="succeeded"\} 0$/m);
      }
      // `history` says each row's job.
      const history = await runCli(['history', '--limit', '3', ...db], env);
      const tenth = new Date(start + 10 * MINUTE).toISOString().slice(0, 19).replace('T', ' ');
      assert.ok(history.out.includes(`BTC/USDT 5m  ${tenth}  skipped`), history.out);
      assert.ok(history.out.includes(`BTC/USDT 1m  ${tenth}  succeeded`), history.out);
      // One job's own history: --symbol with --timeframe.
      const own = JSON.parse((await runCli(['history', '--symbol', 'BTC/USDT', '--timeframe', '5m', '--json', ...db], env)).out) as { timeframe: string; status: string }[];
      assert.deepEqual(own.map((c) => [c.timeframe, c.status]), [['5m', 'skipped'], ['5m', 'skipped']]);
      const of = (tf: string, status?: string) => rows.filter((r) => r.timeframe === tf && (status === undefined || r.status === status)).map((r) => Number(r.scheduled_at) - start);
      assert.deepEqual(of('1m', 'succeeded'), Array.from({ length: 10 }, (_, k) => (k + 1) * MINUTE), 'the 1m job kept firing');
      assert.deepEqual(of('5m'), [5 * MINUTE, 10 * MINUTE], 'each 5m close has its row, once');
      assert.deepEqual(rows.filter((r) => r.timeframe === '5m').map((r) => [r.status, r.reason, r.error]), Array(2).fill(['skipped', 'paused', `paused by ${paused.out.match(/ by (.*?) since/)![1]}: slow candles`]));
      assert.equal(stub.received.filter((r) => (JSON.parse(r.body) as { timeframe: string }).timeframe === '5m').length, 0, 'no 5m request left');

      // `status` has a line per job, each with its own pause, last success and streak.
      const status = await runCli(['status', ...db], env);
      assert.equal(status.err, '');
      assert.match(status.out, /^BTC\/USDT 1m: firing\n  last success \S+T\S+Z, last failure never, failure streak 0$/m);
      assert.match(status.out, /^BTC\/USDT 5m: paused \(all symbols 5m\) by .*: slow candles\n  last success never, /m);
      const json = JSON.parse((await runCli(['status', '--json', ...db], env)).out) as { symbols: { symbol: string; timeframe: string; paused: { symbol: string } | null }[] };
      assert.deepEqual(json.symbols.map((j) => [j.symbol, j.timeframe, j.paused?.symbol ?? null]), [['BTC/USDT', '1m', null], ['BTC/USDT', '5m', '*@5m']]);
      const resumed = await runCli(['resume', '--timeframe', '5m', ...db], env);
      assert.equal(resumed.code, 0, resumed.err);
      assert.match(resumed.out, /^Lifted: paused \(all symbols 5m\)/m);
      await runJobs(t.target, stub.url, start + 10 * MINUTE, 5, replicas);
      rows = await cycleRows(t.db);
      assert.deepEqual(of('5m', 'succeeded'), [15 * MINUTE], 'the 5m job fires again at its next close');
      assert.equal(of('1m', 'succeeded').length, 15);
    } finally {
      await stub.close();
      await t.cleanup();
    }
  });
}

for (const backend of BACKENDS) {
  const replicas = backend === 'postgres' ? 3 : 1;
  test(`[${backend}] reschedule --timeframe 5m (the real CLI) moves the 5m job only: it follows the new pattern, the 1m job its candles; --reset --timeframe 5m returns it to its closes`, backendTest(backend), async () => {
    const t = await tempDatabaseOn(backend);
    const stub = await startDiegoStub([{ status: 200, body: analysisOk() }]);
    const env = { DATABASE_URL: t.path, TIMEFRAMES: '1m,5m', SYMBOLS: 'BTC/USDT', CRON_PATTERN: '', TZ: 'UTC' };
    const db = ['--db', env.DATABASE_URL];
    const start = Math.ceil(Date.now() / 3_600_000) * 3_600_000;
    try {
      const moved = await runCli(['reschedule', '0 */2 * * * *', '--timeframe', '5m', '--reason', 'faster 5m analysis', ...db], env);
      assert.equal(moved.code, 0, moved.err);
      assert.match(moved.out, /^Pattern 0 \*\/2 \* \* \* \* in force for all symbols 5m over CRON_PATTERN$/m);
      await runJobs(t.target, stub.url, start, 10, replicas);
      let rows = await cycleRows(t.db);
      const of = (tf: string) => rows.filter((r) => r.timeframe === tf && r.status === 'succeeded').map((r) => (Number(r.scheduled_at) - start) / MINUTE);
      assert.deepEqual(of('5m'), [2, 4, 6, 8, 10], 'the 5m job on the pattern set for it');
      assert.deepEqual(of('1m'), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 'the 1m job on its candles');
      for (const r of rows.filter((r) => r.timeframe === '5m')) assert.equal(Number(r.deadline_at) - Number(r.scheduled_at), 2 * MINUTE, "its deadline is its own next slot");

      const reset = await runCli(['reschedule', '--reset', '--timeframe', '5m', ...db], env);
      assert.equal(reset.code, 0, reset.err);
      await runJobs(t.target, stub.url, start + 10 * MINUTE, 10, replicas);
      rows = await cycleRows(t.db);
      assert.deepEqual(of('5m'), [2, 4, 6, 8, 10, 15, 20], 'back on its 5m closes');
      assert.equal(of('1m').length, 20);
      const audit = await runCli(['audit', ...db], env);
      assert.match(audit.out, /reschedule pattern \(all symbols 5m\) by .*: faster 5m analysis/);
    } finally {
      await stub.close();
      await t.cleanup();
    }
  });
}

test('[sqlite] a stall over a 5m close (the clock jumps 3.5 min, as after a SIGSTOP): only the newest due slot fires, the 5m close passed over is not fired late, the 5m job fires at its next close', async () => {
  const t = await tempDatabaseOn('sqlite');
  const stub = await startDiegoStub([{ status: 200, body: analysisOk() }]);
  // After 10:03 fired, the process "stops" until 10:06:30: 10:04 and 10:05 (a 5m close) are passed over.
  const group = await startAgents({
    target: t.target,
    frozen: true,
    env: { DIEGO_URL: stub.url, CRON_PATTERN: '', TIMEFRAMES: '1m,5m', SYMBOLS: 'BTC/USDT', RETRY_ATTEMPTS: '1' },
    gate: withHooks(10, { 3: () => group.agents[0]!.clock.jump(3.5 * MINUTE) }),
  });
  try {
    assert.deepEqual(await group.exits, [0]);
    const rows = await cycleRows(t.db);
    const of = (tf: string) => rows.filter((r) => r.timeframe === tf).map((r) => [(Number(r.scheduled_at) - T0) / MINUTE, r.status]);
    assert.deepEqual(of('1m'), [1, 2, 3, 6, 7, 8, 9, 10, 11, 12].map((m) => [m, 'succeeded']), 'ten slots: 10:04 and 10:05 passed over, not backfilled');
    assert.deepEqual(of('5m'), [[10, 'succeeded']], 'the 5m close of 10:05 was not fired at 10:06 (no backfill), 10:10 was');
    const log = group.agents[0]!.log.all();
    assert.ok(log.some((l) => l.includes(`Missed 2 slot(s) from ${new Date(T0 + 4 * MINUTE).toISOString()} (late wake-up or clock jump); firing only ${new Date(T0 + 6 * MINUTE).toISOString()}`)), log.join('\n'));
    assert.equal(stub.received.length, rows.length);
  } finally {
    await group.close();
    await stub.close();
    await t.cleanup();
  }
});
