import type { EndNotices, StreakFound, StreakNotice } from '../store/history/history-store.ts';
import type { NewNotification } from '../store/outbox/outbox.ts';
import { noticeOf } from './event.ts';

/**
 * The pure decision a cycle's end makes about notifications (issue #13): `recent` are the symbol's latest ended
 * cycles that count (succeeded or failed), newest first, the one just ended included. `failing` when exactly
 * `after` failures now end the list (the streak reaches the threshold with this cycle: one per outage);
 * `recovered` when this success follows at least `after` failures. The key names the streak by its first failure.
 */
export function streakEvent(recent: readonly { id: number; status: string }[], after: number): StreakFound | undefined {
  const [latest, ...before] = recent;
  if (!latest) return undefined;
  if (latest.status === 'failed') {
    const streak = recent.findIndex((r) => r.status !== 'failed');
    const length = streak === -1 ? recent.length : streak;
    return length === after ? { event: 'failing', streakStart: recent[after - 1]!.id, streak: after } : undefined;
  }
  const failedBefore = before.findIndex((r) => r.status !== 'failed');
  const length = failedBefore === -1 ? before.length : failedBefore;
  return length >= after ? { event: 'recovered', streakStart: before[length - 1]!.id, streak: length } : undefined;
}

/** The `failing` / `recovered` notification of a streak, as the outbox stores it (channel-neutral, pure). */
export function streakNotification(n: StreakNotice): NewNotification {
  const headline =
    n.event === 'failing'
      ? `${n.symbol} failing: ${n.streak} cycles in a row failed (cycle #${n.cycle})`
      : `${n.symbol} recovered: cycle #${n.cycle} succeeded after ${n.streak} failed in a row`;
  const notice = noticeOf(n.event, headline, n.at, n.owner, { symbol: n.symbol, cycle: n.cycle, counts: { streak: n.streak }, lastError: n.lastError });
  return { event: n.event, severity: notice.severity, symbol: n.symbol, dedupeKey: `${n.event}:${n.symbol}:${n.streakStart}`, payload: JSON.stringify(notice), createdAt: n.at };
}

/** What the history store writes with a cycle's end, in its transaction: the streak policy above, for `channels`. */
export function endNotices(after: number, channels: readonly string[]): EndNotices | undefined {
  if (channels.length === 0) return undefined;
  return { after, channels, decide: (recent) => streakEvent(recent, after), build: streakNotification };
}
