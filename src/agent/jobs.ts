import type { Config } from '../config.ts';
import { isSlotOf } from '../time/candles.ts';
import type { CronPattern } from '../time/cron-pattern.ts';

/**
 * A job: one symbol at one timeframe (issue 23 §2), fired at its own slots, claimed under its own slot key (symbol,
 * timeframe, trigger, slot: store/history/claims.ts SLOT_KEY), so each is exactly once per slot across replicas.
 */
export interface Job {
  symbol: string;
  timeframe: string;
  /** `BTC/USDT 5m`: the job's key in the agent's maps, and its name in log lines. */
  key: string;
}

export const jobKey = (symbol: string, timeframe: string): string => `${symbol} ${timeframe}`;

/**
 * The agent's jobs and which are due when. Why one scheduling loop over the union of the jobs' patterns rather than
 * one loop per timeframe: a slot two timeframes share (every fifth minute for 1m and 5m) is then prepared, looked at
 * and fired once, like the symbols of one slot always were; the missed-run, clock-back and reschedule policies of
 * runSchedule apply once; and one timer wakes for the boundary, not two racing for it. Each slot then fans out to
 * the jobs due at it, as SYMBOLS fans out to one cycle per symbol.
 * `inForce`: the pattern in force (the live control's: `reschedule`'s, else `config.cron`). While it is the
 * environment's, each job follows its own pattern (its candle closes); a `reschedule` moves every job onto its one.
 */
export function createJobs(config: Pick<Config, 'symbols' | 'schedule' | 'cron'>, inForce: CronPattern) {
  const all: Job[] = config.symbols.flatMap((symbol) => config.schedule.timeframes.map((timeframe) => ({ symbol, timeframe, key: jobKey(symbol, timeframe) })));
  const patternOf = (job: Job): CronPattern => (inForce.text === config.cron.text ? config.schedule.patterns[job.timeframe]! : inForce);
  // With one timeframe a job is named by its symbol alone, as before jobs (log lines unchanged); else `BTC/USDT 5m`.
  const nameOf = (job: Job): string => (config.schedule.timeframes.length === 1 ? job.symbol : job.key);
  return {
    all,
    nameOf,
    patternOf,
    /** The jobs whose slot `slot` is (date math: ask it ahead of the slot, not on its boundary). */
    dueAt: (slot: number): Job[] => all.filter((job) => isSlotOf(patternOf(job), slot)),
    /** A job's next slot after `slot`: its cycle's deadline. */
    nextOf: (job: Job, slot: number): number => patternOf(job).next(slot),
    /** The cycle's label in log lines: the job when there are several, nothing for one (as before jobs). */
    labelOf: (job: Job): string => (all.length === 1 ? '' : ` (${nameOf(job)})`),
  };
}

export type Jobs = ReturnType<typeof createJobs>;
