import { errorLine } from '../log/error-line.ts';
import { isRetryableStatus, parseRetryAfter } from '../records.ts';
import { VERSION } from '../version.ts';
import type { Notice } from './event.ts';

/** How long one delivery may take. */
export const DELIVERY_TIMEOUT_MS = 5000;

/**
 * How one try at a channel ended. `retryAfterMs`: the receiver asked to wait that long (a 429's Retry-After, or
 * Telegram's `retry_after`) before anything else is sent to it.
 */
export type Delivery = { ok: true; status: number } | { ok: false; retryable: boolean; error: string; status?: number; retryAfterMs?: number };

/**
 * A notification channel, the port every receiver is behind: a key naming it without its secret (it is stored with
 * each outbox row and logged), the rendering of a channel-neutral notice into what it sends, and the send. A new
 * channel is one file with one such factory, plus its settings (config.ts) and its line in `channelsOf`.
 */
export interface Channel<Rendered = unknown> {
  key: string;
  render(notice: Notice): Rendered;
  /** One try; never throws (a failure is a Delivery); ends when `signal` aborts. */
  send(rendered: Rendered, signal?: AbortSignal): Promise<Delivery>;
  /**
   * Whether a notice sent twice (the agent killed after the receiver had it, before the outbox recorded it) can be
   * shown once: the receiver is given the notice's id to keep. False: at-least-once, a rare duplicate is possible.
   */
  readonly sendsId: boolean;
}

/** The request a channel makes: a POST of a JSON (or text) body, with extra headers. */
export interface Post {
  url: string;
  body: unknown;
  headers?: Record<string, string>;
  /** Reads a 200 whose body says it failed (Telegram's `ok: false`). */
  judge?: (status: number, text: string) => Delivery | undefined;
}

/**
 * POSTs once: a 2xx is delivered; 408, 425, 429, 5xx (the one list, records.ts), a timeout or a network error may
 * pass; any other answer (a 4xx, a redirect, which is never followed) will not. The answer's text is kept short: it
 * is outside text and reaches logs and the `alerts` listing (where it is escaped). A Retry-After is read.
 */
export async function post(p: Post, signal?: AbortSignal, timeoutMs = DELIVERY_TIMEOUT_MS): Promise<Delivery> {
  const text = typeof p.body === 'string';
  try {
    const res = await fetch(p.url, {
      method: 'POST',
      headers: { 'content-type': text ? 'text/plain; charset=utf-8' : 'application/json', 'user-agent': `pmf-scheduler/${VERSION}`, ...p.headers },
      body: text ? (p.body as string) : JSON.stringify(p.body),
      redirect: 'manual',
      signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(timeoutMs)]) : AbortSignal.timeout(timeoutMs),
    });
    const answer = (await res.text().catch(() => '')).slice(0, 500);
    const judged = p.judge?.(res.status, answer);
    if (judged) return judged;
    if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status };
    const what = res.status >= 300 && res.status < 400 ? 'redirect not followed' : answer.slice(0, 200).trim();
    const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), Date.now());
    return { ok: false, retryable: isRetryableStatus(res.status), status: res.status, error: `HTTP ${res.status}${what ? `: ${what}` : ''}`, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
  } catch (err) {
    const timedOut = (err as Error).name === 'TimeoutError';
    return { ok: false, retryable: true, error: timedOut ? `no answer within ${timeoutMs} ms` : errorLine(err) };
  }
}
