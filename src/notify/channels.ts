import { createHash } from 'node:crypto';
import { errorLine } from '../log/error-line.ts';
import { isRetryableStatus } from '../records.ts';
import { VERSION } from '../version.ts';

/** A configured webhook, named by a digest of its URL: the URL holds a token and is never stored or logged. */
export interface Channel {
  key: string;
  url: string;
}

/** `webhook:<12 hex>` for each ALERT_WEBHOOK_URL. */
export function webhookChannels(urls: readonly string[]): Channel[] {
  return urls.map((url) => ({ key: `webhook:${createHash('sha256').update(url).digest('hex').slice(0, 12)}`, url }));
}

/** How long one delivery may take. */
export const DELIVERY_TIMEOUT_MS = 5000;

/** How one POST to a channel ended. */
export type Delivery = { ok: true; status: number } | { ok: false; retryable: boolean; error: string; status?: number };

/** How a notification leaves: one POST of a JSON body to a channel's URL (tests pass their own). */
export type Send = (url: string, body: unknown) => Promise<Delivery>;

/** The default send: {@link postJson} with its default timeout. */
export const sendJson: Send = (url, body) => postJson(url, body);

/**
 * POSTs `body` as JSON to `url`: a 2xx is delivered; a retryable status (records.ts), a timeout or a network error may pass;
 * any other answer (a 4xx, a redirect, which is never followed) will not. The answer's text is kept short: it is
 * outside text and reaches logs and the `alerts` listing (where it is escaped).
 */
export async function postJson(url: string, body: unknown, timeoutMs = DELIVERY_TIMEOUT_MS, fetchImpl: typeof fetch = fetch): Promise<Delivery> {
  try {
    const res = await fetchImpl(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'user-agent': `pmf-scheduler/${VERSION}` },
      body: JSON.stringify(body),
      redirect: 'manual',
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = (await res.text().catch(() => '')).slice(0, 200).trim();
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    const what = res.status >= 300 && res.status < 400 ? 'redirect not followed' : text;
    return { ok: false, retryable: isRetryableStatus(res.status), status: res.status, error: `HTTP ${res.status}${what ? `: ${what}` : ''}` };
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    return { ok: false, retryable: true, error: timedOut ? `no answer within ${timeoutMs} ms` : errorLine(err) };
  }
}
