// The settings of the schedule (issue 23 §2): CRON_PATTERN, TIMEFRAMES (TIMEFRAME its one-timeframe form) and
// CANDLE_OFFSET_MS, spread into the SETTINGS table of src/config.ts like every other setting, and the check of how
// they go together. What they say: each symbol × timeframe is a job; unless CRON_PATTERN is set, each job fires at
// its own candle's close (src/time/candles.ts), CANDLE_OFFSET_MS after it.
import { CANDLE_MS, candlePattern, isTimeframe, TIMEFRAMES, unionPattern, type Timeframe } from '../time/candles.ts';
import type { CronPattern } from '../time/cron-pattern.ts';
import { cronPattern, integer, type Parsed, type Parser, type Setting } from './parsers.ts';

/** What the schedule's settings fill. */
export interface CandleValues {
  /** CRON_PATTERN; undefined (unset): each job fires at its candle's close. */
  cron: CronPattern | undefined;
  /** TIMEFRAME, the one-timeframe form of TIMEFRAMES; undefined: unset. */
  timeframe: Timeframe | undefined;
  /** TIMEFRAMES; undefined: unset (TIMEFRAME's, else 1m). */
  timeframes: Timeframe[] | undefined;
  /** How long after its candle's close a job fires (candle-aligned jobs only). */
  candleOffsetMs: number;
}

/** The timeframe every job has when neither TIMEFRAMES nor TIMEFRAME is set: today's behaviour, every minute. */
export const DEFAULT_TIMEFRAME: Timeframe = '1m';

/** The pattern of the default 1m job: second 0 of every minute. */
const DEFAULT_PATTERN = '0 * * * * *';

const TIMEFRAME_EXPECTED = `a timeframe: one of ${TIMEFRAMES.join(', ')} (candles closing at 00:00 UTC and every interval after)`;

/** TIMEFRAME: one accepted timeframe, or empty for unset. */
export function oneTimeframe(raw: string): Parsed<Timeframe | undefined> {
  if (raw === '') return { value: undefined };
  return isTimeframe(raw) ? { value: raw } : { expected: TIMEFRAME_EXPECTED };
}

/** TIMEFRAMES: accepted timeframes, comma-separated, without duplicates, or empty for unset. */
export function timeframeList(raw: string): Parsed<Timeframe[] | undefined> {
  if (raw === '') return { value: undefined };
  const list = raw.split(',').map((t) => t.trim());
  const expected = `${TIMEFRAME_EXPECTED.replace('a timeframe: one of', 'comma-separated timeframes, each one of')}, without duplicates`;
  if (!list.every(isTimeframe) || new Set(list).size !== list.length) return { expected };
  // Shortest first: the jobs, their log lines and `next` list them in the same order whatever order was typed.
  return { value: [...list].sort((a, b) => CANDLE_MS[a] - CANDLE_MS[b]) };
}

const optionalCron: Parser<CronPattern | undefined> = (raw) => (raw === '' ? { value: undefined } : cronPattern(raw));

/** The schedule's rows of the SETTINGS table. Unset by default, so an image's ENV never sets one of a pair for you. */
export const CANDLE_SETTINGS: { [K in keyof CandleValues]: Setting<CandleValues[K]> } = {
  cron: { env: 'CRON_PATTERN', default: '', parse: optionalCron, help: '6 fields with seconds (5-field patterns also accepted); set, every job follows it; unset: each job fires at its candle close' },
  timeframe: { env: 'TIMEFRAME', default: '', parse: oneTimeframe, help: 'one timeframe: the one-timeframe form of TIMEFRAMES (not both); unset with TIMEFRAMES: 1m' },
  timeframes: { env: 'TIMEFRAMES', default: '', parse: timeframeList, help: `comma-separated (${TIMEFRAMES.join(' ')}): each symbol × timeframe is a job fired at its candle's close in UTC, sent as timeframe; unset: TIMEFRAME, else 1m` },
  candleOffsetMs: { env: 'CANDLE_OFFSET_MS', default: '0', parse: integer(0, CANDLE_MS['1d'] - 1), help: "each job fires this long after its candle's close (the exchange publishes it a moment late); below the shortest timeframe" },
};

/** The environment's schedule: each job's pattern, and the union the agent's one loop runs over. */
export interface Schedule {
  /** The timeframes in force, shortest first (TIMEFRAMES, TIMEFRAME or 1m). */
  timeframes: Timeframe[];
  /** Whether CRON_PATTERN was set: every job follows it (no candle alignment). */
  fromCronPattern: boolean;
  /** Each timeframe's pattern: its candle closes plus the offset, or CRON_PATTERN. */
  patterns: Record<string, CronPattern>;
  /** Every job's slots, once: what the scheduler loop runs over (CRON_PATTERN itself when set). */
  cron: CronPattern;
}

/**
 * How the schedule's settings go together: one timeframe setting at most, and an offset that fits (no offset with
 * CRON_PATTERN, whose moments are exact; below the shortest candle, or a job would fire after the next close). The
 * schedule, or the one problem.
 */
export function scheduleOf(v: CandleValues, names: Record<string, string>): { schedule: Schedule } | { problem: { setting: string; value: string; expected: string } } {
  if (v.timeframe !== undefined && v.timeframes !== undefined) {
    return { problem: { setting: names.timeframe!, value: v.timeframe, expected: `unset when ${names.timeframes} is set (${v.timeframes.join(',')}): TIMEFRAME is the one-timeframe form of TIMEFRAMES, give one` } };
  }
  const timeframes = v.timeframes ?? [v.timeframe ?? DEFAULT_TIMEFRAME];
  const offset = v.candleOffsetMs;
  if (v.cron === undefined && v.timeframes === undefined && v.timeframe === undefined && offset === 0) {
    // Nothing set: today's default, literally (`0 * * * * *`, the 1m close in every zone that exists), so its text in
    // the agents table, `status` and `stats` stays what it was.
    const everyMinute = (cronPattern(DEFAULT_PATTERN) as { value: CronPattern }).value;
    return { schedule: { timeframes, fromCronPattern: false, patterns: { [DEFAULT_TIMEFRAME]: everyMinute }, cron: everyMinute } };
  }
  if (v.cron !== undefined) {
    if (offset > 0) return { problem: { setting: names.candleOffsetMs!, value: String(offset), expected: `0 while ${names.cron} is set (every job follows its moments exactly); the offset applies to candle closes` } };
    return { schedule: { timeframes, fromCronPattern: true, patterns: Object.fromEntries(timeframes.map((t) => [t, v.cron!])), cron: v.cron } };
  }
  const shortest = timeframes[0]!;
  if (offset >= CANDLE_MS[shortest]) {
    return { problem: { setting: names.candleOffsetMs!, value: String(offset), expected: `an integer from 0 to ${CANDLE_MS[shortest] - 1}: below the shortest timeframe (${shortest}), or a job would fire after its next close` } };
  }
  const patterns = Object.fromEntries(timeframes.map((t) => [t, candlePattern(t, offset)]));
  return { schedule: { timeframes, fromCronPattern: false, patterns, cron: unionPattern(Object.values(patterns)) } };
}
