/** Durations and times as operators type them: `30m`, `2h`, `7d`, `1h30m`, or an ISO time. Pure. */

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };
const DURATION = /^(?:\d+(?:ms|s|m|h|d|w))+$/;
const PART = /(\d+)(ms|s|m|h|d|w)/g;
/** Longer than any history: beyond it a typo is more likely than intent. */
const MAX_DURATION_MS = 100 * 365 * 86_400_000;
// Date.parse accepts far too much ("1" is the year 2001): only these shapes are taken as times.
const ISO_TIME = /^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:?\d{2})?)?$/i;

/** What the parsers expect, for error lines. */
export const DURATION_EXPECTED = 'a duration such as 30m, 2h, 7d or 1h30m';
export const TIME_EXPECTED = 'a time such as 2h or 7d (that long ago), now, or an ISO time such as 2024-01-20T10:00:00Z';

/** `30m` → 1,800,000; undefined when the text is not a duration. */
export function parseDuration(text: string): number | undefined {
  const t = text.trim();
  if (!DURATION.test(t)) return undefined;
  let ms = 0;
  for (const [, n, unit] of t.matchAll(PART)) ms += Number(n) * UNIT_MS[unit!]!;
  return ms <= MAX_DURATION_MS ? ms : undefined;
}

/**
 * An instant in epoch ms: a duration means that long before `now`; `now`; or an ISO date or date-time (a date-time
 * without a zone is local time, a bare date is UTC midnight, as in `Date.parse`). Undefined when not understood.
 */
export function parseInstant(text: string, now: number): number | undefined {
  const t = text.trim();
  if (t.toLowerCase() === 'now') return now;
  const ago = parseDuration(t);
  if (ago !== undefined) return now - ago;
  if (!ISO_TIME.test(t) || !isCalendarDate(t)) return undefined;
  const at = Date.parse(t.replace(' ', 'T'));
  return Number.isNaN(at) ? undefined : at;
}

/**
 * Whether the `YYYY-MM-DD` a time starts with is a day of the calendar: `Date.parse` rolls `2024-02-30` over to
 * March 1st instead of refusing it.
 */
function isCalendarDate(text: string): boolean {
  const [y, m, d] = text.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(0);
  day.setUTCFullYear(y, m - 1, d); // not Date.UTC, which reads years 0–99 as 1900–1999
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}

/** A short human duration: `850 ms`, `42 s`, `5m 03s`, `3h 07m`, `2d 04h`. */
export function formatDuration(ms: number): string {
  const a = Math.abs(Math.round(ms));
  const sign = ms < 0 ? '-' : '';
  if (a < 1000) return `${sign}${a} ms`;
  const s = Math.floor(a / 1000);
  if (s < 60) return `${sign}${(a / 1000).toFixed(a < 10_000 ? 1 : 0)} s`;
  const pad = (n: number) => String(n).padStart(2, '0');
  if (s < 3600) return `${sign}${Math.floor(s / 60)}m ${pad(s % 60)}s`;
  if (s < 86_400) return `${sign}${Math.floor(s / 3600)}h ${pad(Math.floor(s / 60) % 60)}m`;
  return `${sign}${Math.floor(s / 86_400)}d ${pad(Math.floor(s / 3600) % 24)}h`;
}
