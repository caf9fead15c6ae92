import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatProblem, parseConfig } from '../../src/config.ts';
import type { AttemptView, CycleView } from '../../src/store/history/history-query.ts';
import { addCycle, addHeartbeat, addSkipped, emptyMetrics, renderMetrics, writeFileAtomic } from '../../src/agent/upkeep/metrics-file.ts';
import { openDatabase } from '../../src/store/open.ts';
import { startAgents, type AgentGroup } from '../helpers/agent-harness.ts';
import { startDiegoStub } from '../helpers/diego-stub.ts';
import { seedCycle } from '../helpers/seed-history.ts';
import { withHooks } from '../helpers/slot-hooks.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { until, within } from '../helpers/wait.ts';

const T = Date.UTC(2024, 0, 22, 10, 0, 0);

const cycle = (over: Partial<CycleView>): CycleView => ({
  id: 1, symbol: 'BTC/USDT', timeframe: '1m', trigger: 'schedule', scheduledAt: T, startedAt: T + 1, finishedAt: T + 2001, status: 'succeeded', attempts: 1,
  durationMs: 2000, httpStatus: 200, reason: null, error: null, summary: null, executed: false, owner: 'h:1', executionOff: null, ...over,
});
const attempt = (over: Partial<AttemptView>): AttemptView => ({
  number: 1, requestId: 'r', startedAt: T, finishedAt: T + 1, durationMs: 100, outcome: 'ok', httpStatus: 200, error: null, responseExcerpt: null, ...over,
});

/** `name{labels} value` for every sample line of an exposition. */
function samples(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-z_]+(?:\{[a-z]+="[^"]*"(?:,[a-z]+="[^"]*")*\})?) (-?[0-9.]+(?:e[+-]?\d+)?)$/.exec(line);
    assert.ok(m, `not a valid sample line: ${JSON.stringify(line)}`);
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

test('renderMetrics: the Prometheus text format, exactly', () => {
  let s = emptyMetrics(T, null);
  s = addCycle(s, cycle({ finishedAt: T + 2001, durationMs: 2000 }), [attempt({ outcome: 'http_error', durationMs: 30 }), attempt({ number: 2, durationMs: 40 })]);
  assert.equal(
    renderMetrics(s),
    [
      '# HELP pmf_scheduler_start_time_seconds When the agent started (Unix time); the counters count from here.',
      '# TYPE pmf_scheduler_start_time_seconds gauge',
      'pmf_scheduler_start_time_seconds 1705917600',
      '# HELP pmf_scheduler_cycles_total Cycles ended since the agent started, by status.',
      '# TYPE pmf_scheduler_cycles_total counter',
      'pmf_scheduler_cycles_total{status="succeeded"} 1',
      'pmf_scheduler_cycles_total{status="failed"} 0',
      'pmf_scheduler_cycles_total{status="skipped"} 0',
      'pmf_scheduler_cycles_total{status="interrupted"} 0',
      '# HELP pmf_scheduler_skipped_total Slots recorded as skipped since the agent started, by reason.',
      '# TYPE pmf_scheduler_skipped_total counter',
      'pmf_scheduler_skipped_total{reason="missed"} 0',
      'pmf_scheduler_skipped_total{reason="overlap"} 0',
      '# HELP pmf_scheduler_attempts_total Diego attempts ended since the agent started, by outcome.',
      '# TYPE pmf_scheduler_attempts_total counter',
      'pmf_scheduler_attempts_total{outcome="ok"} 1',
      'pmf_scheduler_attempts_total{outcome="http_error"} 1',
      'pmf_scheduler_attempts_total{outcome="timeout"} 0',
      'pmf_scheduler_attempts_total{outcome="network_error"} 0',
      'pmf_scheduler_attempts_total{outcome="invalid_response"} 0',
      'pmf_scheduler_attempts_total{outcome="rejected"} 0',
      'pmf_scheduler_attempts_total{outcome="aborted"} 0',
      "# HELP pmf_scheduler_heartbeat_timestamp_seconds The agent's last heartbeat (Unix time), every 10 s: older means the agent is down or stuck.",
      '# TYPE pmf_scheduler_heartbeat_timestamp_seconds gauge',
      'pmf_scheduler_heartbeat_timestamp_seconds 1705917600',
      '# HELP pmf_scheduler_last_success_timestamp_seconds When the last cycle succeeded (Unix time); 0 when none has.',
      '# TYPE pmf_scheduler_last_success_timestamp_seconds gauge',
      'pmf_scheduler_last_success_timestamp_seconds 1705917602.001',
      '# HELP pmf_scheduler_last_cycle_duration_seconds Duration of the last cycle that ended, all attempts included.',
      '# TYPE pmf_scheduler_last_cycle_duration_seconds gauge',
      'pmf_scheduler_last_cycle_duration_seconds 2',
      '# HELP pmf_scheduler_diego_latency_seconds Diego latency of successful attempts since the agent started.',
      '# TYPE pmf_scheduler_diego_latency_seconds histogram',
      'pmf_scheduler_diego_latency_seconds_bucket{le="0.05"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="0.1"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="0.25"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="0.5"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="1"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="2.5"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="5"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="10"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="20"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="30"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="60"} 1',
      'pmf_scheduler_diego_latency_seconds_bucket{le="+Inf"} 1',
      'pmf_scheduler_diego_latency_seconds_sum 0.04',
      'pmf_scheduler_diego_latency_seconds_count 1',
      '# HELP pmf_scheduler_job_cycles_total Cycles ended since the agent started, per job (symbol and timeframe) and status.',
      '# TYPE pmf_scheduler_job_cycles_total counter',
      'pmf_scheduler_job_cycles_total{symbol="BTC/USDT",timeframe="1m",status="succeeded"} 1',
      'pmf_scheduler_job_cycles_total{symbol="BTC/USDT",timeframe="1m",status="failed"} 0',
      'pmf_scheduler_job_cycles_total{symbol="BTC/USDT",timeframe="1m",status="skipped"} 0',
      'pmf_scheduler_job_cycles_total{symbol="BTC/USDT",timeframe="1m",status="interrupted"} 0',
      '# HELP pmf_scheduler_manual_cycles_total Cycles run now (pmf-scheduler trigger) ended since the agent started, of every status.',
      '# TYPE pmf_scheduler_manual_cycles_total counter',
      'pmf_scheduler_manual_cycles_total 0',
      '',
    ].join('\n'),
  );
  assert.equal(samples(renderMetrics(emptyMetrics(T, null))).get('pmf_scheduler_last_success_timestamp_seconds'), 0);
  assert.equal(samples(renderMetrics(emptyMetrics(T, null))).has('pmf_scheduler_last_cycle_duration_seconds'), false, 'no cycle ended yet');
});

test('the histogram is cumulative; failed cycles, skips and in-flight attempts count where they belong', () => {
  let s = emptyMetrics(T, T - 5000);
  for (const ms of [40, 100, 3000, 70_000]) s = addCycle(s, cycle({}), [attempt({ durationMs: ms })]);
  s = addCycle(s, cycle({ status: 'failed', finishedAt: T + 9999, durationMs: 9000 }), [attempt({ outcome: 'timeout', durationMs: 9000 }), attempt({ outcome: null, durationMs: null })]);
  s = addSkipped(addSkipped(s, 'overlap'), 'overlap');
  s = addCycle(s, cycle({ status: 'skipped', reason: 'missed', durationMs: 0 }), [attempt({ outcome: 'aborted', durationMs: 0 })]);
  s = addHeartbeat(s, T + 20_000);
  const m = samples(renderMetrics(s));
  const bucket = (le: string) => m.get(`pmf_scheduler_diego_latency_seconds_bucket{le="${le}"}`);
  assert.deepEqual(['0.05', '0.1', '0.25', '2.5', '5', '60', '+Inf'].map(bucket), [1, 2, 2, 2, 3, 3, 4]);
  assert.equal(m.get('pmf_scheduler_diego_latency_seconds_sum'), 73.14);
  assert.equal(m.get('pmf_scheduler_diego_latency_seconds_count'), 4);
  assert.equal(m.get('pmf_scheduler_cycles_total{status="succeeded"}'), 4);
  assert.equal(m.get('pmf_scheduler_cycles_total{status="failed"}'), 1);
  assert.equal(m.get('pmf_scheduler_cycles_total{status="skipped"}'), 3);
  assert.equal(m.get('pmf_scheduler_skipped_total{reason="overlap"}'), 2);
  assert.equal(m.get('pmf_scheduler_skipped_total{reason="missed"}'), 1);
  assert.equal(m.get('pmf_scheduler_heartbeat_timestamp_seconds'), (T + 20_000) / 1000);
  assert.equal(m.get('pmf_scheduler_attempts_total{outcome="timeout"}'), 1);
  assert.equal(m.get('pmf_scheduler_attempts_total{outcome="ok"}'), 4);
  assert.equal(m.get('pmf_scheduler_last_success_timestamp_seconds'), (T + 2001) / 1000, 'a failure does not move it');
  assert.equal(m.get('pmf_scheduler_last_cycle_duration_seconds'), 0, 'the last cycle that ended, the skipped one');
});

test('live control in the metrics: manual cycles counted apart, and a paused gauge per symbol and scope once the control state is known', () => {
  let s = addCycle(emptyMetrics(T, null), { ...cycle({}), trigger: 'manual' }, [attempt({})]);
  s = addCycle(s, { ...cycle({ status: 'failed' }), trigger: 'manual' }, []);
  s = addCycle(s, { ...cycle({}), trigger: 'schedule' }, []);
  assert.equal(samples(renderMetrics(s)).has('pmf_scheduler_paused{symbol="BTC/USDT",scope="cycles"}'), false, 'not before the control state is read');
  s = { ...s, paused: [{ symbol: 'BTC/USDT', scope: 'cycles', on: true }, { symbol: 'BTC/USDT', scope: 'execution', on: false }] };
  const m = samples(renderMetrics(s));
  assert.equal(m.get('pmf_scheduler_manual_cycles_total'), 2);
  assert.equal(m.get('pmf_scheduler_cycles_total{status="succeeded"}'), 2);
  assert.equal(m.get('pmf_scheduler_paused{symbol="BTC/USDT",scope="cycles"}'), 1);
  assert.equal(m.get('pmf_scheduler_paused{symbol="BTC/USDT",scope="execution"}'), 0);
});

test('writeFileAtomic: replaces the file whole and leaves no temporary file', async () => {
  const dir = tempDir();
  try {
    const path = join(dir.dir, 'pmf.prom');
    writeFileSync(path, 'old\n');
    await writeFileAtomic(path, 'new 1\n');
    assert.equal(readFileSync(path, 'utf8'), 'new 1\n');
    await writeFileAtomic(path, 'new 2\n');
    assert.equal(readFileSync(path, 'utf8'), 'new 2\n');
    assert.deepEqual(readdirSync(dir.dir), ['pmf.prom']);
    await assert.rejects(writeFileAtomic(join(dir.dir, 'no-such-dir', 'x.prom'), 'x'), { code: 'ENOENT' });
  } finally {
    dir.cleanup();
  }
});

test('METRICS_FILE: unset is off; a directory-like value is rejected with one line', () => {
  const off = parseConfig({});
  assert.ok('config' in off && off.config.metricsFile === undefined);
  const on = parseConfig({ METRICS_FILE: '/var/lib/node_exporter/pmf.prom' });
  assert.ok('config' in on && on.config.metricsFile === '/var/lib/node_exporter/pmf.prom');
  const bad = parseConfig({ METRICS_FILE: '/var/lib/node_exporter/' });
  assert.ok('problems' in bad);
  assert.equal(formatProblem(bad.problems[0]!), 'Invalid METRICS_FILE="/var/lib/node_exporter/": expected a file path such as /var/lib/node_exporter/pmf-scheduler.prom, or empty to disable');
});

test('the agent rewrites METRICS_FILE after every cycle: totals by status and outcome, last success, histogram', async () => {
  // Slot 1: a 503 then a success (retry); slots 2 and 3 succeed at once.
  const stub = await startDiegoStub([{ status: 503 }, { status: 200 }]);
  const dir = tempDir();
  const path = join(dir.dir, 'history.db');
  const file = join(dir.dir, 'pmf-scheduler.prom');
  // A success from an earlier life: the gauge starts from the history, not from 0.
  const before = await openDatabase({ kind: 'sqlite', path });
  await seedCycle(before.db, { scheduledAt: T - 3_600_000 });
  await before.close();
  const read = () => samples(readFileSync(file, 'utf8'));
  const seen: Map<string, number>[] = [];
  let group: AgentGroup | undefined;
  group = await startAgents({
    path,
    env: { DIEGO_URL: stub.url, METRICS_FILE: file, RETRY_DELAY_MS: '10' },
    start: T,
    // Before time moves to the next slot, the file shows every cycle so far (written just after a cycle ends).
    gate: withHooks(3, Object.fromEntries([0, 1, 2].map((n) => [n, async () => {
      await until(() => existsSync(file) && read().get('pmf_scheduler_cycles_total{status="succeeded"}') === n, `the metrics file to count ${n} cycle(s)`);
      seen.push(read());
    }]))),
  });
  try {
    assert.deepEqual(await within(group.exits, 10_000, 'the agent to stop'), [0]);
    assert.equal(seen.length, 3);
    assert.equal(seen[0]!.get('pmf_scheduler_last_success_timestamp_seconds'), (T - 3_600_000 + 202) / 1000, 'from the history at start');
    assert.ok(seen[1]!.get('pmf_scheduler_last_success_timestamp_seconds')! > T / 1000, 'then from the first cycle');
    const m = read();
    assert.equal(m.get('pmf_scheduler_cycles_total{status="succeeded"}'), 3);
    assert.equal(m.get('pmf_scheduler_cycles_total{status="failed"}'), 0);
    assert.equal(m.get('pmf_scheduler_attempts_total{outcome="http_error"}'), 1);
    assert.equal(m.get('pmf_scheduler_attempts_total{outcome="ok"}'), 3);
    assert.equal(m.get('pmf_scheduler_diego_latency_seconds_count'), 3);
    assert.equal(m.get('pmf_scheduler_diego_latency_seconds_bucket{le="+Inf"}'), 3);
    assert.ok(m.get('pmf_scheduler_last_success_timestamp_seconds')! > T / 1000 + 3);
    assert.ok(m.get('pmf_scheduler_last_cycle_duration_seconds')! >= 0);
    assert.deepEqual(readdirSync(dir.dir).filter((f) => f.includes('.tmp')), []);
  } finally {
    await group.close();
    await stub.close();
    dir.cleanup();
  }
});

test('an unwritable METRICS_FILE costs one warning, not one per cycle, and the cycles still run', async () => {
  const stub = await startDiegoStub([{ status: 200 }]);
  const dir = tempDir();
  const group = await startAgents({
    path: join(dir.dir, 'history.db'),
    env: { DIEGO_URL: stub.url, METRICS_FILE: join(dir.dir, 'missing-dir', 'pmf.prom') },
    slots: 4,
  });
  try {
    assert.deepEqual(await within(group.exits, 10_000, 'the agent to stop'), [0]);
    assert.equal(stub.received.length, 4);
    const warnings = group.agents[0]!.log.err.filter((l) => l.includes('Could not write the metrics file'));
    assert.equal(warnings.length, 1, group.agents[0]!.log.err.join('\n'));
    assert.match(warnings[0]!, /\[UPKEEP\] Could not write the metrics file .*missing-dir\/pmf\.prom/);
  } finally {
    await group.close();
    await stub.close();
    dir.cleanup();
  }
});
