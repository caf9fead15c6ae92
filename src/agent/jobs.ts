import type { Config } from '../config.ts';
import type { ControlState } from '../control/state.ts';
import { targetsOf } from '../records.ts';
import { isSlotOf, unionPattern } from '../time/candles.ts';
import { parseCronPattern, type CronPattern } from '../time/cron-pattern.ts';

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
 * `control`: the live control's pattern in force (`reschedule`'s, else `config.cron`) and state. A job follows the
 * pattern `reschedule --symbol/--timeframe` set for it (the most specific target first, as pauses), else a pattern a
 * plain `reschedule` put in force for all, else its own (its candle closes, or CRON_PATTERN).
 */
export function createJobs(config: Pick<Config, 'symbols' | 'schedule' | 'cron'>, control: { readonly cron: CronPattern; readonly state: Pick<ControlState, 'jobSchedules'> }) {
  const all: Job[] = config.symbols.flatMap((symbol) => config.schedule.timeframes.map((timeframe) => ({ symbol, timeframe, key: jobKey(symbol, timeframe) })));
  // Patterns set for some jobs, parsed once each (they were checked when set, as CRON_PATTERN is).
  const parsed = new Map<string, CronPattern | undefined>();
  const parse = (text: string) => {
    if (!parsed.has(text)) {
      const r = parseCronPattern(text);
      parsed.set(text, 'pattern' in r ? r.pattern : undefined);
    }
    return parsed.get(text);
  };
  const patternOf = (job: Job): CronPattern => {
    const own = control.state.jobSchedules ?? [];
    if (own.length > 0) {
      for (const target of targetsOf(job.symbol, job.timeframe)) {
        const set = own.find((j) => j.target === target);
        const pattern = set && parse(set.pattern);
        if (pattern) return pattern;
      }
    }
    return control.cron.text === config.cron.text ? config.schedule.patterns[job.timeframe]! : control.cron;
  };
  const union = (): CronPattern => {
    const distinct = new Map<string, CronPattern>();
    for (const job of all) {
      const p = patternOf(job);
      distinct.set(p.text, p);
    }
    return unionPattern([...distinct.values()]);
  };
  // With one timeframe a job is named by its symbol alone, as before jobs (log lines unchanged); else `BTC/USDT 5m`.
  const nameOf = (job: Job): string => (config.schedule.timeframes.length === 1 ? job.symbol : job.key);
  return {
    all,
    nameOf,
    patternOf,
    /**
     * Every job's slots, once, as the pattern in force for each says now: what the agent's one loop runs over. Its
     * text changes when any job's pattern does, which is how the loop sees a reschedule (runSchedule compares it).
     */
    cron: {
      get text() {
        return union().text;
      },
      next: (after: number) => union().next(after),
      latest: (at: number) => union().latest(at),
    } satisfies CronPattern,
    /** The jobs whose slot `slot` is (date math: ask it ahead of the slot, not on its boundary). */
    dueAt: (slot: number): Job[] => all.filter((job) => isSlotOf(patternOf(job), slot)),
    /** A job's next slot after `slot`: its cycle's deadline. */
    nextOf: (job: Job, slot: number): number => patternOf(job).next(slot),
    /** The cycle's label in log lines: the job when there are several, nothing for one (as before jobs). */
    labelOf: (job: Job): string => (all.length === 1 ? '' : ` (${nameOf(job)})`),
  };
}

export type Jobs = ReturnType<typeof createJobs>;
