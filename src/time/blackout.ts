import { parseCronPattern, type CronPattern } from './cron-pattern.ts';
import { formatDuration, parseDuration } from './durations.ts';

/**
 * Recurring blackout windows (EXECUTION_BLACKOUT): execution is off from each match of a cron pattern for a duration.
 * Pure date math over the pattern, so every agent decides alike with no database and no timer of its own.
 */

/** One window: from each match of `cron`, for `durationMs`. */
export interface BlackoutWindow {
  cron: CronPattern;
  durationMs: number;
  /** As configured: `0 55 7 * * 1-5 10m`. */
  text: string;
}

/** A blackout in force: which window, from its match until it ends. */
export interface Blackout {
  window: BlackoutWindow;
  from: number;
  until: number;
}

/** What a window's text must be, for error lines. */
export const BLACKOUT_EXPECTED = 'windows separated by ";", each a cron pattern (5 or 6 fields) and a duration, such as "0 55 7 * * 1-5 10m; 0 0 0 * * 0 30m"';

/** `0 55 7 * * 1-5 10m; 0 0 0 * * 0 30m` → its windows, or what is wrong with the first bad one. Empty text: none. */
export function parseBlackout(text: string): { windows: BlackoutWindow[] } | { error: string } {
  const windows: BlackoutWindow[] = [];
  for (const raw of text.split(';')) {
    const part = raw.trim().replace(/\s+/g, ' ');
    if (part === '') continue;
    const cut = part.lastIndexOf(' ');
    const durationMs = cut < 0 ? undefined : parseDuration(part.slice(cut + 1));
    if (durationMs === undefined || durationMs === 0) return { error: `"${part}" does not end with a duration such as 3s, 10m or 2h` };
    const parsed = parseCronPattern(part.slice(0, cut));
    if ('error' in parsed) return { error: `"${part.slice(0, cut)}" is not a cron pattern (${parsed.error})` };
    windows.push({ cron: parsed.pattern, durationMs, text: part });
  }
  return { windows };
}

/**
 * The blackout in force at `t` (the one that ends last when several overlap), or undefined. A window holds from its
 * match (included) for its duration (end excluded): the last match at or before `t` decides, since a later match
 * starts later and a window's duration is the same from every match.
 */
export function blackoutAt(windows: readonly BlackoutWindow[], t: number): Blackout | undefined {
  let found: Blackout | undefined;
  for (const window of windows) {
    const from = window.cron.latest(t);
    const until = from + window.durationMs;
    if (from <= t && t < until && (found === undefined || until > found.until)) found = { window, from, until };
  }
  return found;
}

/** The blackouts that begin after `t`, soonest first, at most `count` (for `status` and `next`). */
export function nextBlackouts(windows: readonly BlackoutWindow[], t: number, count: number): Blackout[] {
  const out: Blackout[] = [];
  for (const window of windows) {
    for (let at = t, i = 0; i < count; i++) {
      at = window.cron.next(at);
      out.push({ window, from: at, until: at + window.durationMs });
    }
  }
  return out.sort((a, b) => a.from - b.from).slice(0, count);
}

/** One line: `execution blackout 0 55 7 * * 1-5 10m from … until …`. */
export const describeBlackout = (b: Blackout): string =>
  `execution blackout "${b.window.text}" from ${new Date(b.from).toISOString()} until ${new Date(b.until).toISOString()} (${formatDuration(b.window.durationMs)})`;

/** The windows as configured, for the configuration line: `0 55 7 * * 1-5 10m; 0 0 0 * * 0 30m`, or `(none)`. */
export const describeBlackoutSetting = (windows: readonly BlackoutWindow[]): string => (windows.length === 0 ? '(none)' : windows.map((w) => w.text).join('; '));

/**
 * EXECUTION_BLACKOUT as the slot decision's input (agent/slot-decision.ts `ExecutionBlackout`): why execution is off
 * at `t` (a window in force), or undefined. No windows, no work.
 */
export function blackoutReason(windows: readonly BlackoutWindow[]): (t: number) => string | undefined {
  if (windows.length === 0) return () => undefined;
  return (t) => {
    const b = blackoutAt(windows, t);
    return b && `execution blackout "${b.window.text}" until ${new Date(b.until).toISOString()} (EXECUTION_BLACKOUT)`;
  };
}
