import type { CronPattern } from './cron-pattern.ts';

/**
 * Candle closes, the pure date math of candle-aligned jobs (TIMEFRAMES): which moments a timeframe's candles close
 * at, in UTC, as exchanges count them. The accepted set is Binance's intervals from a minute to a day
 * (https://developers.binance.com/docs/binance-spot-api-docs/rest-api/market-data-endpoints, "Kline intervals"),
 * all of which divide a UTC day, so every close is a multiple of the interval since the epoch (00:00 UTC included).
 * Longer candles (3d, 1w, 1M) do not start at the epoch's multiples (a week closes on Monday, a month varies), and
 * 1s is faster than a request to Diego takes: both are refused rather than fired at a moment no exchange uses.
 */
export const CANDLE_MS = {
  '1m': 60_000,
  '3m': 180_000,
  '5m': 300_000,
  '15m': 900_000,
  '30m': 1_800_000,
  '1h': 3_600_000,
  '2h': 7_200_000,
  '4h': 14_400_000,
  '6h': 21_600_000,
  '8h': 28_800_000,
  '12h': 43_200_000,
  '1d': 86_400_000,
} as const;

export type Timeframe = keyof typeof CANDLE_MS;

/** The accepted timeframes, shortest first, as help and error lines list them. */
export const TIMEFRAMES: readonly Timeframe[] = Object.keys(CANDLE_MS) as Timeframe[];

/** Whether `text` is an accepted timeframe (case-sensitive: `1M` is a month on exchanges, not a minute). */
export const isTimeframe = (text: string): text is Timeframe => Object.hasOwn(CANDLE_MS, text);

/** The first close of `timeframe` strictly after `after`, plus `offsetMs` (epoch ms, UTC). */
export function nextClose(timeframe: Timeframe, offsetMs: number, after: number): number {
  const interval = CANDLE_MS[timeframe];
  return (Math.floor((after - offsetMs) / interval) + 1) * interval + offsetMs;
}

/** The newest close of `timeframe`, plus `offsetMs`, at or before `at` (epoch ms, UTC). */
export function latestClose(timeframe: Timeframe, offsetMs: number, at: number): number {
  const interval = CANDLE_MS[timeframe];
  return Math.floor((at - offsetMs) / interval) * interval + offsetMs;
}

/**
 * A timeframe's closes as a pattern the scheduler asks like any cron pattern: `0 *\/5 * * * *` fires at the same
 * moments as `5m` in UTC, but a cron pattern follows the local zone (TZ) and knows no millisecond offset. Its text
 * (`5m candles`, `5m candles +1500 ms`) is not a cron pattern, so it is never mistaken for one `reschedule` set.
 */
export function candlePattern(timeframe: Timeframe, offsetMs = 0): CronPattern {
  return {
    text: `${timeframe} candles${offsetMs > 0 ? ` +${offsetMs} ms` : ''}`,
    next: (after) => nextClose(timeframe, offsetMs, after),
    latest: (at) => latestClose(timeframe, offsetMs, at),
  };
}

/**
 * The union of several patterns: every slot of any of them, once (two timeframes share their common closes). The
 * agent's one scheduling loop runs over it, so one timer serves every job and a slot several jobs share is prepared
 * and fired together. Its text joins theirs (`1m candles | 5m candles`).
 */
export function unionPattern(patterns: readonly CronPattern[]): CronPattern {
  if (patterns.length === 1) return patterns[0]!;
  return {
    text: patterns.map((p) => p.text).join(' | '),
    next: (after) => Math.min(...patterns.map((p) => p.next(after))),
    latest: (at) => Math.max(...patterns.map((p) => p.latest(at))),
  };
}

/** Whether `slot` is one of `pattern`'s slots (a pattern answers only next and latest). */
export const isSlotOf = (pattern: CronPattern, slot: number): boolean => pattern.next(slot - 1) === slot;

/**
 * The timeframes a schedule's text names (`1m candles | 5m candles +1500 ms` → 1m, 5m), as an agent records it in the
 * agents table; undefined for a cron pattern (its jobs' timeframes are not in its text).
 */
export function timeframesOfText(text: string): Timeframe[] | undefined {
  const parts = text.split(' | ').map((part) => /^(\w+) candles(?: \+(\d+) ms)?$/.exec(part));
  if (!parts.every((m) => m !== null && isTimeframe(m[1]!))) return undefined;
  return parts.map((m) => m![1] as Timeframe);
}

/** A candle schedule's text back into its pattern (what `status`, `next` and `stats` read from the agents table), or undefined. */
export function candleScheduleOf(text: string): CronPattern | undefined {
  const parts = text.split(' | ').map((part) => /^(\w+) candles(?: \+(\d+) ms)?$/.exec(part));
  if (!parts.every((m) => m !== null && isTimeframe(m[1]!))) return undefined;
  return unionPattern(parts.map((m) => candlePattern(m![1] as Timeframe, Number(m![2] ?? 0))));
}
