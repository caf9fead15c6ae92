import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { createLogger, type LoggerOptions } from '../../src/log/logger.ts';
import { createRedactor } from '../../src/log/redact.ts';
import type { LogLevel } from '../../src/log/logger.ts';
import { spawnCli } from '../helpers/cli-process.ts';
import { analysisOk, startDiegoStub } from '../helpers/diego-stub.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { until, within } from '../helpers/wait.ts';

const AT = Date.parse('2024-01-20T10:00:01.234Z');

function logger(opts: Partial<LoggerOptions> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const log = createLogger({
    format: 'pretty',
    level: 'debug',
    colors: false,
    now: () => AT,
    redact: (s) => s,
    sink: { out: (l) => out.push(l), err: (l) => err.push(l) },
    ...opts,
  });
  return { log, out, err };
}

test('a pretty line is exactly "[ISO time] [SCHEDULER] message"', () => {
  const { log, out, err } = logger();
  log.info('Calling Diego analysis endpoint...');
  log.info('Diego response: 200 { success: true, signal: BUY }', { status: 200 });
  assert.deepEqual(out, [
    '[2024-01-20T10:00:01.234Z] [SCHEDULER] Calling Diego analysis endpoint...',
    '[2024-01-20T10:00:01.234Z] [SCHEDULER] Diego response: 200 { success: true, signal: BUY }',
  ]);
  assert.deepEqual(err, []);
});

test('child loggers change only the component tag', () => {
  const { log, out } = logger();
  log.child('STATS').info('Since start: 3 cycles');
  assert.deepEqual(out, ['[2024-01-20T10:00:01.234Z] [STATS] Since start: 3 cycles']);
});

test('warnings and errors go to the error sink, with the stack trace on the following lines', () => {
  const { log, out, err } = logger();
  const boom = new Error('disk on fire');
  log.warn('Retrying in 5000 ms');
  log.error('Cycle crashed', {}, boom);
  assert.deepEqual(out, []);
  assert.equal(err.length, 2);
  assert.equal(err[0], '[2024-01-20T10:00:01.234Z] [SCHEDULER] Retrying in 5000 ms');
  const [first, ...stack] = err[1]!.split('\n');
  assert.equal(first, '[2024-01-20T10:00:01.234Z] [SCHEDULER] Cycle crashed');
  assert.equal(stack.join('\n'), boom.stack);
});

test('a non-Error thrown value is printed as text', () => {
  const { log, err } = logger();
  log.warn('Odd failure', {}, 'plain string');
  assert.deepEqual(err, ['[2024-01-20T10:00:01.234Z] [SCHEDULER] Odd failure\nplain string']);
});

test('with colours off no escape codes are written; with colours on they are', () => {
  const plain = logger();
  plain.log.warn('careful');
  assert.doesNotMatch(plain.err[0]!, /\x1b\[/);
  const coloured = logger({ colors: true });
  coloured.log.warn('careful');
  assert.match(coloured.err[0]!, /\x1b\[/);
  assert.equal(coloured.err[0]!.replace(/\x1b\[[0-9;]*m/g, ''), plain.err[0]);
});

test('JSON format writes one object per line with time, level, component, message, fields and stack', () => {
  const { log, out, err } = logger({ format: 'json' });
  log.info('Next fire time: 2024-01-20T10:01:00.000Z', { next: '2024-01-20T10:01:00.000Z' });
  log.child('STATS').debug('multi\nline message');
  const boom = new Error('nope');
  log.error('Failed', { attempts: 3 }, boom);
  assert.equal(out.length, 2);
  assert.equal(err.length, 1);
  for (const line of [...out, ...err]) assert.ok(!line.includes('\n'), `one line: ${line}`);
  assert.deepEqual(JSON.parse(out[0]!), { time: '2024-01-20T10:00:01.234Z', level: 'info', component: 'scheduler', msg: 'Next fire time: 2024-01-20T10:01:00.000Z', next: '2024-01-20T10:01:00.000Z' });
  assert.deepEqual(JSON.parse(out[1]!), { time: '2024-01-20T10:00:01.234Z', level: 'debug', component: 'stats', msg: 'multi\nline message' });
  assert.deepEqual(JSON.parse(err[0]!), { time: '2024-01-20T10:00:01.234Z', level: 'error', component: 'scheduler', msg: 'Failed', attempts: 3, stack: boom.stack });
});

test('lines below the configured level are dropped', async (t) => {
  const levels: LogLevel[] = ['debug', 'info', 'warn', 'error'];
  for (const [i, level] of levels.entries()) {
    await t.test(level, () => {
      const { log, out, err } = logger({ level });
      for (const l of levels) log[l](`at ${l}`);
      assert.deepEqual([...out, ...err].map((line) => line.split(' ').slice(-1)[0]), levels.slice(i));
    });
  }
});

test('a secret in a message, a field or a stack is redacted in both formats', () => {
  const token = 'sk_live_77Abc99';
  const redact = createRedactor([token]);
  for (const format of ['pretty', 'json'] as const) {
    const { log, out, err } = logger({ format, redact });
    log.info(`sending Authorization: Bearer ${token}`, { header: token });
    log.error('request failed', {}, new Error(`bad token ${token} for http://u:pw@diego:3001`));
    const all = [...out, ...err].join('\n');
    assert.ok(!all.includes(token), `${format}: ${all}`);
    assert.ok(!all.includes(':pw@'), `${format}: ${all}`);
    assert.match(all, /Bearer \*\*\*/);
    assert.match(all, /u:\*\*\*@diego/);
  }
});

test('LOG_FORMAT=json from the built agent: each field keeps one JSON type on every line; attempts carry httpStatus, cycles status; the stats summary has its figures as fields', async () => {
  // Cycle 1: 503, 503 → failed (RETRY_ATTEMPTS=2); cycle 2: 503 then 200 → succeeded; then 200s.
  const stub = await startDiegoStub([{ status: 503 }, { status: 503 }, { status: 503 }, { status: 200, body: analysisOk() }]);
  const tmp = tempDir();
  const env = { DIEGO_URL: stub.url, MIGUEL_URL: '', DATABASE_URL: join(tmp.dir, 'h.db'), CRON_PATTERN: '* * * * * *', RETRY_ATTEMPTS: '2', RETRY_DELAY_MS: '0', RUN_ON_START: 'false', STATS_INTERVAL_MS: '1000', LOG_FORMAT: 'json' };
  const agent = spawnCli(['run'], env);
  try {
    await agent.line(/"msg":"Scalping cycle completed successfully/, 15_000);
    const seen = agent.stdout.length;
    await until(() => agent.stdout.slice(seen).some((l) => l.includes('"msg":"Since start: ')), 'a stats summary after the success', 10_000);
    agent.kill('SIGTERM');
    assert.equal((await within(agent.exited, 10_000, 'the agent to stop')).code, 0);

    const lines = [...agent.stdout, ...agent.stderr].filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const kind = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
    const types = new Map<string, Set<string>>();
    for (const l of lines) for (const [k, v] of Object.entries(l)) types.set(k, (types.get(k) ?? new Set()).add(kind(v)));
    for (const [k, set] of types) assert.equal(set.size, 1, `field ${k} has types ${[...set].join(', ')}`);

    const failedAttempt = lines.find((l) => String(l.msg).startsWith('Attempt 1/2 failed'))!;
    assert.equal(failedAttempt.httpStatus, 503);
    assert.equal('status' in failedAttempt, false, 'an attempt line has no status');
    const response = lines.find((l) => String(l.msg).startsWith('Diego response: 200'))!;
    assert.equal(response.httpStatus, 200);
    const failedCycle = lines.find((l) => l.level === 'error' && l.status !== undefined)!;
    assert.equal(failedCycle.status, 'failed');

    const summary = lines.filter((l) => String(l.msg).startsWith('Since start: ')).at(-1)!;
    assert.equal(summary.window, 'Since start');
    assert.equal(typeof summary.cycles, 'number');
    assert.ok((summary.cycles as number) >= 2);
    assert.equal(summary.failed, 1);
    assert.ok((summary.succeeded as number) >= 1);
    for (const k of ['successRate', 'attemptsPerCycle', 'latencyP50Ms', 'latencyP95Ms', 'latencyMaxMs', 'failureStreak']) assert.equal(typeof summary[k], 'number', k);
    assert.match(String(summary.lastSuccess), /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  } finally {
    agent.kill('SIGKILL');
    await stub.close();
    tmp.cleanup();
  }
});
