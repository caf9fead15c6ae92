import type { SkipReason } from '../../records.ts';
import type { Notifier } from '../../notify/notifier.ts';
import type { Clock } from '../../time/clock.ts';
import { every } from '../../time/every.ts';
import { formatDuration } from '../../time/durations.ts';

/** How often slots that did not run are summed up in one `missed` notification (when there were any). */
export const MISSED_SUMMARY_MS = 300_000;

/**
 * Whether a `missed` notification counts each skip reason: slots passed over or skipped behind an overrun or a bad
 * clock count; deliberate skips (a pause, the stop) do not. A new skip reason must say here which it is.
 */
const COUNTS_AS_MISSED: Record<SkipReason, boolean> = {
  missed: true,
  overlap: true,
  clock_skew: true,
  clock_unchecked: true,
  clock_back: false,
  paused: false,
  shutdown: false,
  unclaimed: false,
  recheck_failed: true,
  late: true,
};
/** The reasons a `missed` notification counts: the skips above, and cycles cut at their deadline. */
const COUNTED = new Set<string>(['deadline', ...Object.entries(COUNTS_AS_MISSED).filter(([, n]) => n).map(([r]) => r)]);

/** Counts slots that did not run as they should and notifies one summary per interval, not one message per slot. */
export function summariseMissed(notifier: Notifier, clock: Clock, stop: AbortSignal) {
  let counts: Record<string, number> = {};
  const done = every(clock, stop, MISSED_SUMMARY_MS, async () => {
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    if (total === 0) return;
    const what = Object.entries(counts).map(([reason, n]) => `${n} ${reason}`).join(', ');
    notifier.notify('missed', `${total} slot(s) did not run as scheduled in the last ${formatDuration(MISSED_SUMMARY_MS)}: ${what}`, { counts });
    counts = {};
  });
  return {
    count(reason: string | undefined) {
      if (reason !== undefined && COUNTED.has(reason)) counts[reason] = (counts[reason] ?? 0) + 1;
    },
    done,
  };
}
