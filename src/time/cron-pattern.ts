import { parseCronExpression, type Cron } from 'cron-schedule';

/** A validated cron pattern; `next`/`latest` are the only questions the scheduler asks it. */
export interface CronPattern {
  readonly text: string;
  /** The first slot strictly after `after` (epoch ms). */
  next(after: number): number;
  /** The newest slot at or before `at` (epoch ms). */
  latest(at: number): number;
}

/** Longer than any hour repeated when clocks go back (1 h almost everywhere, 2 h at most in tz history). */
const MAX_REPEAT_MS = 3 * 3_600_000;
/** A zone changes its offset at most once in this long (DST changes are months apart): probes this far apart see each. */
const OFFSET_PROBE_MS = 7 * 86_400_000;

/** The local time zone's offset from UTC at `t`, in ms. */
const offsetAt = (t: number) => -new Date(t).getTimezoneOffset() * 60_000;

/** The first clocks-go-back change in (from, to]: the instant the offset drops, and by how much (the repeated span). */
function fallBackIn(from: number, to: number): { at: number; by: number } | undefined {
  for (let lo = from; lo < to; lo += OFFSET_PROBE_MS) {
    const hi = Math.min(lo + OFFSET_PROBE_MS, to);
    if (offsetAt(hi) >= offsetAt(lo)) continue;
    // offset(a) is the old one, offset(b) the new: narrow down to the millisecond.
    let [a, b] = [lo, hi];
    while (b - a > 1) {
      const mid = Math.floor((a + b) / 2);
      if (offsetAt(mid) === offsetAt(lo)) a = mid;
      else b = mid;
    }
    return { at: b, by: offsetAt(a) - offsetAt(b) };
  }
  return undefined;
}

/**
 * Whether the pattern fires again through the hour repeated when clocks go back, as cron (Vixie, cronie) does:
 * yes when its minute or hour field is a wildcard (`*`, `*\/15`: sub-hourly and hourly jobs keep their pace in real
 * time), no for a fixed time of day (`30 2 * * *` runs once, on the first pass).
 */
function repeatsInSecondPass(text: string): boolean {
  if (text === '@hourly' || text === '@minutely') return true;
  if (text.startsWith('@')) return false;
  const fields = text.split(/\s+/);
  const [minute, hour] = fields.length === 6 ? [fields[1], fields[2]] : [fields[0], fields[1]];
  return minute!.startsWith('*') || hour!.startsWith('*');
}

/** Parses a 5- or 6-field pattern (seconds first), or says what is wrong with it. */
export function parseCronPattern(text: string): { pattern: CronPattern } | { error: string } {
  const trimmed = text.trim();
  if (trimmed === '') return { error: 'an empty pattern' };
  let cron: Cron;
  try {
    cron = parseCronExpression(trimmed);
    // Impossible dates such as `0 0 31 9 *` parse fine but never fire: cron-schedule throws only here.
    cron.getNextDate(new Date(0));
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return { error: why === 'No valid next date was found.' ? 'a pattern that never fires' : why };
  }
  // cron-schedule computes in local wall time and turns a wall time back into an instant by its first occurrence. In
  // the hour repeated when clocks go back, that instant can lie before the one asked about (`next` went back an hour):
  // step on from it, so this walk passes through that hour once and never goes back.
  const firstPass = (after: number): number => {
    let slot = cron.getNextDate(new Date(after)).getTime();
    while (slot <= after) slot = cron.getNextDate(new Date(slot)).getTime();
    return slot;
  };
  /** The first instant in [from, to) (whole seconds) whose local wall time matches: the second pass, second by second. */
  const matchIn = (from: number, to: number): number | undefined => {
    for (let t = Math.ceil(from / 1000) * 1000; t < to; t += 1000) if (cron.matchDate(new Date(t))) return t;
    return undefined;
  };
  const secondPassToo = repeatsInSecondPass(trimmed);
  // A slot is a moment in UTC, fired once. Through a repeated hour the wall times of the first pass come again; for a
  // pattern that repeats there (above), each is a slot of its own, an hour after its twin.
  const next = (after: number): number => {
    if (!secondPassToo) return firstPass(after);
    const back = fallBackIn(after - MAX_REPEAT_MS, after);
    if (back && after < back.at + back.by) {
      // Inside the second pass: its own slots first, then on from its end (unambiguous wall time again).
      const end = back.at + back.by;
      return matchIn(after + 1, end) ?? firstPass(end - 1);
    }
    const slot = firstPass(after);
    const ahead = fallBackIn(after, slot);
    return (ahead && matchIn(ahead.at, Math.min(slot, ahead.at + ahead.by))) ?? slot;
  };
  return {
    pattern: {
      text: trimmed,
      next,
      latest: (at) => {
        // getPrevDate excludes the second it is given, so ask from the start of the following second; in the repeated
        // hour it can answer a slot older than the newest one `next` gives, hence the step forward.
        let slot = cron.getPrevDate(new Date(Math.floor(at / 1000) * 1000 + 1000)).getTime();
        for (let later = next(slot); later <= at; later = next(slot)) slot = later;
        return slot;
      },
    },
  };
}
