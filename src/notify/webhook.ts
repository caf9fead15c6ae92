import { createHash } from 'node:crypto';
import { post, type Channel } from './channel.ts';
import { noticeLine, type Notice, type Severity } from './event.ts';

const ICON: Record<Severity, string> = { critical: ':red_circle:', warning: ':warning:', info: ':white_check_mark:' };

/**
 * What a webhook receives: the notice's fields and `text`, the line a chat webhook (Slack, Mattermost, Discord's
 * /slack) shows as is, with a Slack shortcode for the severity (pure).
 */
export function webhookBody(n: Notice): Notice & { text: string } {
  return { ...n, text: `${ICON[n.severity]} ${noticeLine(n)}` };
}

/**
 * A webhook (ALERT_WEBHOOK_URL), named `webhook:<12 hex>` by a digest of its URL: the URL holds a token and is never
 * stored or logged. Each POST carries the notice's id as an `Idempotency-Key` header and the body's `id` field, the
 * same on every try: a receiver that keeps them shows a notification once even when a try's answer was lost.
 */
export function webhookChannel(url: string): Channel<Notice & { text: string }> {
  return {
    key: `webhook:${createHash('sha256').update(url).digest('hex').slice(0, 12)}`,
    render: webhookBody,
    send: (body, signal) => post({ url, body, headers: { 'idempotency-key': body.id } }, signal),
    sendsId: true,
  };
}
