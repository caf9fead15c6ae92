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
  return {
    pattern: {
      text: trimmed,
      next: (after) => cron.getNextDate(new Date(after)).getTime(),
      // getPrevDate excludes the second it is given, so ask from the start of the following second.
      latest: (at) => cron.getPrevDate(new Date(Math.floor(at / 1000) * 1000 + 1000)).getTime(),
    },
  };
}
