import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createJobs } from '../../src/agent/jobs.ts';
import type { ControlState, JobReschedule } from '../../src/control/state.ts';
import type { CronPattern } from '../../src/time/cron-pattern.ts';
import { testConfig } from '../helpers/agent-harness.ts';
import { pattern } from '../helpers/cron.ts';

process.env.TZ = 'UTC';

const at = (iso: string) => Date.parse(iso);
const set = (target: string, text: string): JobReschedule => ({ target, pattern: text, reason: 'r', by: 'b', since: 0, auditId: 1 });

/** The jobs of `env`, with the live control's pattern in force and job patterns as given. */
function jobsOf(env: Record<string, string>, live?: { cron?: CronPattern; jobSchedules?: JobReschedule[] }) {
  const config = testConfig({ CRON_PATTERN: '', ...env });
  const state: Pick<ControlState, 'jobSchedules'> = { jobSchedules: live?.jobSchedules };
  return { config, jobs: createJobs(config, { cron: live?.cron ?? config.cron, state }) };
}

test('SYMBOLS × TIMEFRAMES are the jobs, symbol by symbol, shortest timeframe first; named by symbol alone with one timeframe', () => {
  const { jobs } = jobsOf({ SYMBOLS: 'BTC/USDT,ETH/USDT', TIMEFRAMES: '1h,1m' });
  assert.deepEqual(jobs.all.map((j) => j.key), ['BTC/USDT 1m', 'BTC/USDT 1h', 'ETH/USDT 1m', 'ETH/USDT 1h']);
  assert.equal(jobs.labelOf(jobs.all[1]!), ' (BTC/USDT 1h)');
  const one = jobsOf({ SYMBOLS: 'BTC/USDT,ETH/USDT' }).jobs;
  assert.deepEqual([one.nameOf(one.all[0]!), one.labelOf(one.all[0]!)], ['BTC/USDT', ' (BTC/USDT)'], 'log lines as before jobs');
  const single = jobsOf({}).jobs;
  assert.equal(single.labelOf(single.all[0]!), '');
});

test('each job is due at its own closes; the loop runs over their union; a deadline is the job\'s own next close', () => {
  const { jobs } = jobsOf({ SYMBOLS: 'BTC/USDT', TIMEFRAMES: '1m,5m' });
  const [one, five] = jobs.all;
  assert.deepEqual(jobs.dueAt(at('2024-01-22T10:05:00Z')), [one, five]);
  assert.deepEqual(jobs.dueAt(at('2024-01-22T10:06:00Z')), [one]);
  assert.deepEqual(jobs.dueAt(at('2024-01-22T10:06:30Z')), []);
  assert.equal(jobs.cron.next(at('2024-01-22T10:05:00Z')), at('2024-01-22T10:06:00Z'));
  assert.equal(jobs.nextOf(five!, at('2024-01-22T10:05:00Z')), at('2024-01-22T10:10:00Z'));
  assert.equal(jobs.nextOf(one!, at('2024-01-22T10:05:00Z')), at('2024-01-22T10:06:00Z'));
});

test('a reschedule for all moves every job; one naming jobs moves those only, the most specific target first', () => {
  const everyTen = pattern('*/10 * * * * *');
  const all = jobsOf({ SYMBOLS: 'BTC/USDT,ETH/USDT', TIMEFRAMES: '1m,5m' }, { cron: everyTen }).jobs;
  for (const job of all.all) assert.equal(all.patternOf(job).text, '*/10 * * * * *');

  const named = jobsOf(
    { SYMBOLS: 'BTC/USDT,ETH/USDT', TIMEFRAMES: '1m,5m' },
    { jobSchedules: [set('*@5m', '0 */2 * * * *'), set('BTC/USDT@5m', '0 */3 * * * *'), set('ETH/USDT', '30 * * * * *')] },
  ).jobs;
  assert.deepEqual(
    named.all.map((j) => [j.key, named.patternOf(j).text]),
    [
      ['BTC/USDT 1m', '1m candles'],
      ['BTC/USDT 5m', '0 */3 * * * *'],
      ['ETH/USDT 1m', '30 * * * * *'],
      ['ETH/USDT 5m', '30 * * * * *'],
    ],
    "a job's own pattern, then its symbol's, then its timeframe's",
  );
  assert.equal(named.cron.text, '1m candles | 0 */3 * * * * | 30 * * * * *');
  // The union has every job's moments: 10:01:30 is ETH's, 10:03:00 BTC 5m's and BTC 1m's.
  assert.deepEqual(named.dueAt(at('2024-01-22T10:03:00Z')).map((j) => j.key), ['BTC/USDT 1m', 'BTC/USDT 5m']);
  assert.deepEqual(named.dueAt(at('2024-01-22T10:01:30Z')).map((j) => j.key), ['ETH/USDT 1m', 'ETH/USDT 5m']);
});
