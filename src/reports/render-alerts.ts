import { escapeControl } from '../log/escape.ts';
import type { OutboxRow } from '../store/outbox/outbox.ts';
import { clip, table, utcTime, type Cell, type Colors } from './render-text.ts';

/** One notification as `alerts --json` prints it. */
export function notificationJson(r: OutboxRow) {
  return {
    id: r.id,
    createdAt: new Date(r.created_at).toISOString(),
    event: r.event,
    severity: r.severity,
    symbol: r.symbol,
    channel: r.channel,
    state: r.state,
    attempts: r.attempts,
    lastError: r.last_error,
    sentAt: r.sent_at === null ? null : new Date(r.sent_at).toISOString(),
    nextAt: r.state === 'pending' ? new Date(r.next_at).toISOString() : null,
    payload: JSON.parse(r.payload) as unknown,
  };
}

// The error came from a webhook's answer: shown with its control characters escaped, on one line.
const shown = (text: string | null) => (text === null ? '' : escapeControl(text));

/** The `alerts` table, newest first. Pure. */
export function renderAlerts(rows: readonly OutboxRow[], c: Colors): string {
  const state = (r: OutboxRow): Cell =>
    r.state === 'sent' ? { text: 'sent', paint: c.green } : r.state === 'gave_up' ? { text: 'gave up', paint: c.red } : { text: 'pending', paint: c.yellow };
  const lines = table(
    ['#', 'created (UTC)', 'event', 'severity', 'symbol', 'channel', 'state', 'tries', 'last error'],
    rows.map((r) => [
      { text: `#${r.id}` },
      { text: utcTime(r.created_at) },
      { text: r.event },
      { text: r.severity },
      { text: r.symbol ?? '-' },
      { text: r.channel },
      state(r),
      { text: String(r.attempts), right: true },
      { text: clip(shown(r.last_error), 60) },
    ]),
    c,
  );
  return lines.join('\n');
}
