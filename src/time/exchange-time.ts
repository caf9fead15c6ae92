/**
 * The exchange's clock measured like NTP over HTTP (issue 23 §1), in pure functions: one sample from the local send
 * and receive stamps and the server's time, several samples combined, the fire clock's state across checks, and a
 * clock shifted by the offset. The HTTP exchange is `agent/upkeep/exchange-clock.ts`.
 */
import type { Clock } from './clock.ts';
import type { ClockSample } from './sntp.ts';

/** Samples per check: the median of five shrugs off two odd round trips. */
export const EXCHANGE_SAMPLES = 5;
/** A sample whose round trip is longer is discarded whatever the others: its midpoint could be this far off. */
export const MAX_SAMPLE_RTT_MS = 1000;
/**
 * A server time farther than this from ours is refused as a sample (a field in seconds, another field, a broken
 * server): firing on it would be firing on a wild clock. One hour, CLOCK_SKEW_MAX_MS's own ceiling.
 */
export const MAX_PLAUSIBLE_OFFSET_MS = 3_600_000;
/** Checks in a row that cannot read the exchange's clock before the fire clock falls back to ours. */
export const FALLBACK_AFTER = 3;

/** One sample: the offset against the midpoint of the round trip, and the least the offset can be (`floorMs`). */
export interface ExchangeSample extends ClockSample {
  /**
   * The server wrote its time (a whole ms, floored) between our send and our receive, so its clock is at least
   * `server - receivedAt` ahead of ours: firing on this never leaves before the exchange's moment.
   */
  floorMs: number;
}

/** A sample from the stamps, or why the server's time is not to be believed (pure). */
export function exchangeSample(sentAt: number, serverMs: number, receivedAt: number): ExchangeSample | { error: string } {
  const offsetMs = serverMs - (sentAt + receivedAt) / 2;
  if (Math.abs(offsetMs) > MAX_PLAUSIBLE_OFFSET_MS) {
    const hint = Math.abs(serverMs * 1000 - receivedAt) < MAX_PLAUSIBLE_OFFSET_MS ? ' (seconds, not milliseconds?)' : '';
    return { error: `the server's time ${safeIso(serverMs)} is ${Math.round(offsetMs / 1000)} s from ours, more than ${MAX_PLAUSIBLE_OFFSET_MS / 3_600_000} h${hint}: refused` };
  }
  return { offsetMs, rttMs: Math.max(0, receivedAt - sentAt), floorMs: serverMs - receivedAt };
}

const safeIso = (ms: number): string => (Math.abs(ms) <= 8.64e15 ? new Date(ms).toISOString() : String(ms));

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};

/** Several samples combined: the median offset of those with a short round trip, and their tightest floor. */
export interface ExchangeReading extends ExchangeSample {
  kept: number;
  discarded: number;
}

/**
 * Combines a check's samples (pure): those with a round trip over MAX_SAMPLE_RTT_MS, or over twice the shortest one
 * (plus 2 ms, so loopback's fractions of a millisecond do not discard everything), are discarded as NTP does; the
 * median of the rest is the reading. `rttMs` is the shortest round trip kept (the reading's precision). The floor
 * is the highest of the kept samples' floors (each is a lower bound of the offset, so the highest is the tightest),
 * but never above the median offset: one answer that lies ahead cannot make the slots fire early on its word.
 */
export function combineSamples(samples: readonly ExchangeSample[]): ExchangeReading | { error: string } {
  const usable = samples.filter((s) => s.rttMs <= MAX_SAMPLE_RTT_MS);
  if (usable.length === 0) return { error: samples.length === 0 ? 'no sample' : `every round trip took over ${MAX_SAMPLE_RTT_MS} ms` };
  const shortest = Math.min(...usable.map((s) => s.rttMs));
  const kept = usable.filter((s) => s.rttMs <= 2 * shortest + 2);
  const offsetMs = median(kept.map((s) => s.offsetMs));
  return { offsetMs, floorMs: Math.min(offsetMs, Math.max(...kept.map((s) => s.floorMs))), rttMs: shortest, kept: kept.length, discarded: samples.length - kept.length };
}

/** The fire clock across checks: never read yet, on the exchange's offset, or fallen back to ours. */
export type FireClockState =
  | { kind: 'unread'; failures: number }
  | { kind: 'exchange'; floorMs: number; at: number; failures: number }
  | { kind: 'fallback'; since: number; lastFloorMs: number };

export const FIRE_CLOCK_UNREAD: FireClockState = { kind: 'unread', failures: 0 };

/**
 * One check's effect on the fire clock (pure): a reading puts the slots on it (`back`: after a fallback); a failure
 * keeps the last good offset until FALLBACK_AFTER checks in a row have failed, then falls back to ours (`fallback`).
 */
export function fireClockStep(state: FireClockState, reading: { floorMs: number } | undefined, now: number): { next: FireClockState; change?: 'fallback' | 'back' } {
  // Back on it after a fallback, or after a start whose first checks failed (the slots fired on ours till now).
  const wasOff = state.kind === 'fallback' || (state.kind === 'unread' && state.failures > 0);
  if (reading !== undefined) return { next: { kind: 'exchange', floorMs: reading.floorMs, at: now, failures: 0 }, change: wasOff ? 'back' : undefined };
  if (state.kind !== 'exchange') return { next: state.kind === 'unread' ? { kind: 'unread', failures: state.failures + 1 } : state };
  const failures = state.failures + 1;
  if (failures < FALLBACK_AFTER) return { next: { ...state, failures } };
  return { next: { kind: 'fallback', since: now, lastFloorMs: state.floorMs }, change: 'fallback' };
}

/** What the fire clock adds to ours: the exchange's floor while it is in force, else nothing. */
export const fireOffsetOf = (s: FireClockState): number => (s.kind === 'exchange' ? s.floorMs : 0);

/**
 * A clock on the exchange's time: ours plus `offset()` (read at each call: one addition on the slot's path). Its
 * `waitUntil(at)` waits on ours for `at - offset`, so the precise wait of the real clock is kept as it is. A change of
 * the offset is a small step of this clock, which the scheduler already handles as any wall-clock step.
 */
export function shiftedClock(base: Clock, offset: () => number): Clock {
  return {
    now: () => base.now() + offset(),
    sleep: (ms, signal) => base.sleep(ms, signal),
    random: base.random && (() => base.random!()),
    waitUntil: base.waitUntil && ((at, signal) => base.waitUntil!(at - offset(), signal)),
  };
}
