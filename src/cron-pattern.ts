import { parseCronExpression, type Cron } from 'cron-schedule';

/** A validated cron pattern; `next`/`latest` are the only questions the scheduler asks it. */
export interface CronPattern {
  readonly text: string;
  /** The first slot strictly after `after` (epoch ms). */
  next(after: number): number;
  /** The newest slot at or before `at` (epoch ms). */
  latest(at: number): number;
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
  // step on from it, so the schedule passes through that hour once (its second pass is silent) and never goes back.
  const next = (after: number): number => {
    let slot = cron.getNextDate(new Date(after)).getTime();
    while (slot <= after) slot = cron.getNextDate(new Date(slot)).getTime();
    return slot;
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
