import type { Logger } from '../../log/logger.ts';
import { formatDuration } from '../../time/durations.ts';

/**
 * What the write queue says about a database outage, and when: once when it begins, again every `reportEveryMs`
 * while it lasts, and once when it ends, with what was written, dropped or found claimed by another agent meanwhile.
 */
export interface OutageReport {
  /** Whether an outage is under way. */
  readonly active: boolean;
  /** The last error seen during it. */
  readonly error: string | undefined;
  /** A write failed with a storage fault; true when this began the outage. */
  fault(error: string, now: number, state: { queued: number; backoffMs: number }): boolean;
  /** A queued write reached the database during the outage. */
  written(): void;
  /** Writes left the queue unwritten because it was full. */
  dropped(count: number): void;
  /** A queued claim met another agent's row for its slot. */
  conflict(): void;
  /** The queue is empty again: the outage is over. */
  recovered(now: number): void;
}

/** `slotsFire`: whether a slot whose claim cannot be written still fires (WriteQueueOptions.claimMustSucceed). */
export function outageReport(log: Logger, limit: number, reportEveryMs: number, byteLimit: number, slotsFire: () => boolean): OutageReport {
  const bound = `${limit} writes or ${byteLimit >= 1 << 20 ? `${Math.round(byteLimit / (1 << 20))} MiB` : `${Math.round(byteLimit / 1024)} KiB`}`;
  let o: { since: number; error: string; reportedAt: number; written: number; dropped: number; conflicts: number } | undefined;
  return {
    get active() {
      return o !== undefined;
    },
    get error() {
      return o?.error;
    },
    fault(error, now, state) {
      if (!o) {
        o = { since: now, error, reportedAt: now, written: 0, dropped: 0, conflicts: 0 };
        log.warn(`Database unavailable (${error}): keeping records in memory (up to ${bound}) and retrying; ${slotsFire() ? 'cycles keep firing' : 'a slot whose claim cannot be written does not fire'}`, { error });
        return true;
      }
      o.error = error;
      if (now - o.reportedAt >= reportEveryMs) {
        o.reportedAt = now;
        log.warn(
          `Database still unavailable after ${formatDuration(now - o.since)} (${error}): ${state.queued} write(s) queued, ${o.dropped} dropped; retrying every ${state.backoffMs} ms at most`,
          { error, queued: state.queued, dropped: o.dropped },
        );
      }
      return false;
    },
    written() {
      if (o) o.written++;
    },
    dropped(count) {
      if (!o) return;
      if (o.dropped === 0) log.warn(`Write queue full (${bound}): dropping the oldest; each dropped record goes to stderr as JSON`, { limit });
      o.dropped += count;
    },
    conflict() {
      if (o) o.conflicts++;
    },
    recovered(now) {
      if (!o) return;
      const { since, written, dropped, conflicts } = o;
      o = undefined;
      const extra = [dropped > 0 ? `${dropped} dropped when the queue was full` : '', conflicts > 0 ? `${conflicts} slot(s) also claimed by another agent` : ''].filter(Boolean);
      const line = `Database writable again after ${formatDuration(now - since)}: wrote ${written} queued write(s)${extra.length > 0 ? `; ${extra.join('; ')} (records on stderr as JSON)` : ''}`;
      if (extra.length > 0) log.warn(line, { written, dropped, conflicts });
      else log.info(line, { written });
    },
  };
}
