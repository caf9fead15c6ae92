import { ofetch } from 'ofetch';
import { interpretResponse, type ResponseMeaning } from './response.ts';
import { parseRetryAfter } from '../records.ts';
import { sendStamp } from '../time/clock.ts';
import { VERSION } from '../version.ts';
import { createPool, holdRequest, type HeldRequest } from './held-request.ts';

/** The body of `POST /analyze`. */
export interface AnalyzeRequest {
  symbol: string;
  timeframe: string;
  triggerExecution: boolean;
}

/** One HTTP attempt's result: a value with an outcome kind, never a thrown error. */
export interface AttemptResult extends ResponseMeaning {
  status?: number;
  retryAfterMs?: number;
  /** The start of the body as read, capped, for the attempts table. */
  excerpt?: string;
}

export interface AttemptOptions {
  idempotencyKey: string;
  requestId: string;
  /** Covers the whole attempt from its write, body included (ofetch's own timeout stops at the headers). */
  timeoutMs: number;
  /** Aborts the attempt at shutdown; the outcome is then `aborted`. */
  signal: AbortSignal;
  /** Ends the attempt at the cycle's deadline (the next slot); the outcome is then `timeout`. */
  deadline?: AbortSignal;
  /** The slot's moment, sent as `X-Scheduled-At` (ISO 8601 UTC with milliseconds). */
  scheduledAt: number;
  /** The W3C `traceparent` of this attempt (trace.ts): the cycle's trace, the attempt's span. */
  traceparent: string;
}

export interface DiegoClientOptions {
  baseUrl: string;
  token?: string;
  /** `Basic …` from the URL's user and password (config.ts); never together with `token`. */
  basicAuth?: string;
  maxResponseBytes: number;
  excerptBytes?: number;
  now: () => number;
}

/** One attempt prepared up to its write (headers, body bytes, signal, a connection taken): `send` writes it. */
export interface PreparedAttempt {
  /**
   * Writes the request (nothing else first), then starts its timeout. `sentAt`: the send stamp's millisecond (the
   * clock read for `X-Sent-At` just before the write, the only one on that path); `result` never rejects.
   */
  send(): { sentAt: number; result: Promise<AttemptResult> };
  /** Not sent after all: the held request is dropped unwritten. */
  cancel(): void;
}

/** Talks to Diego: one attempt at a time (retries belong to the cycle), prepared ahead of its write. */
export interface DiegoClient {
  prepare(req: AnalyzeRequest, opts: AttemptOptions): PreparedAttempt;
  /** Closes the kept-alive connections (the agent's stop). */
  close?(): void;
}

export const USER_AGENT = `pmf-scheduler/${VERSION}`;
const DEFAULT_EXCERPT_BYTES = 16 * 1024;

/**
 * Creates the client. Every attempt is a single ofetch request with `retry: 0`, its own AbortController (tied to the
 * cycle's signals by listeners removed when the attempt ends: nothing collects on a long-lived signal), and a held
 * dispatcher over a keep-alive pool (held-request.ts): ofetch and fetch run before the slot, the write at it.
 */
export function createDiegoClient(opts: DiegoClientOptions): DiegoClient {
  const excerptBytes = opts.excerptBytes ?? DEFAULT_EXCERPT_BYTES;
  const url = `${opts.baseUrl}/analyze`;
  const pool = createPool(opts.baseUrl);
  const fixed: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json', 'user-agent': USER_AGENT };
  if (opts.token) fixed.authorization = `Bearer ${opts.token}`;
  else if (opts.basicAuth) fixed.authorization = opts.basicAuth;
  return {
    prepare(req, a) {
      const held = holdRequest(pool);
      const control = new AbortController();
      let why: 'timeout' | 'cancelled' | undefined;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const cut = () => control.abort();
      a.signal.addEventListener('abort', cut, { once: true });
      a.deadline?.addEventListener('abort', cut, { once: true });
      if (a.signal.aborted || a.deadline?.aborted) cut();
      const headers = { ...fixed, 'idempotency-key': a.idempotencyKey, 'x-request-id': a.requestId, 'x-scheduled-at': new Date(a.scheduledAt).toISOString(), traceparent: a.traceparent };
      const failed = (err: unknown): AttemptResult => {
        if (why === 'cancelled') return { outcome: 'aborted', error: 'not sent', executed: false };
        if (a.signal.aborted) return { outcome: 'aborted', error: 'aborted at shutdown', executed: false };
        if (a.deadline?.aborted) return { outcome: 'timeout', error: 'no complete answer by the deadline (the next slot)', executed: false };
        if (why === 'timeout') return { outcome: 'timeout', error: `no complete answer within ${a.timeoutMs} ms`, executed: false };
        return { outcome: 'network_error', error: networkError(err), executed: false };
      };
      const result = attempt(url, JSON.stringify(req), headers, held, control.signal, failed, opts, excerptBytes).finally(() => {
        clearTimeout(timer);
        a.signal.removeEventListener('abort', cut);
        a.deadline?.removeEventListener('abort', cut);
      });
      return {
        send() {
          // The send time, the one header only the write can know (a clock read of well under a microsecond): Diego
          // and the precision benchmark split lateness into scheduling (slot → this instant) and transfer. Wall-clock
          // epoch ms with µs, not secret.
          const stamp = sendStamp(opts.now());
          held.release({ 'x-sent-at': stamp.toFixed(3) });
          timer = setTimeout(() => {
            why = 'timeout';
            control.abort();
          }, Math.max(1, a.timeoutMs));
          return { sentAt: Math.floor(stamp), result };
        },
        cancel() {
          why ??= 'cancelled';
          control.abort();
        },
      };
    },
    close: () => pool.close(),
  };
}

/** The attempt itself: ofetch over the held dispatcher; the answer read (capped) and interpreted. Never rejects. */
async function attempt(
  url: string,
  body: string,
  headers: Record<string, string>,
  held: HeldRequest,
  signal: AbortSignal,
  failed: (err: unknown) => AttemptResult,
  opts: DiegoClientOptions,
  excerptBytes: number,
): Promise<AttemptResult> {
  let response: Response;
  try {
    response = await ofetch.raw(url, {
      method: 'POST',
      body,
      headers,
      retry: 0,
      signal,
      dispatcher: held.dispatcher as never,
      redirect: 'manual', // a POST that may place an order is never re-sent somewhere else
      responseType: 'stream',
      ignoreResponseError: true,
    });
  } catch (err) {
    return failed(err);
  }
  let read: { text: string | undefined; excerpt: string };
  try {
    read = await readCapped(response.body, opts.maxResponseBytes, excerptBytes);
  } catch (err) {
    return { ...failed(err), status: response.status };
  }
  const meaning = interpretResponse(response.status, read.text, opts.maxResponseBytes, response.headers.get('location'));
  return {
    ...meaning,
    status: response.status,
    retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), opts.now()),
    excerpt: read.excerpt,
  };
}

/**
 * Reads a body up to `limit` bytes; past it, stops reading (text undefined) so memory stays bounded. Every body read
 * from outside goes through it (Diego's answers, the exchange's time).
 */
export async function readCapped(body: ReadableStream<Uint8Array> | null, limit: number, excerptBytes: number): Promise<{ text: string | undefined; excerpt: string }> {
  if (!body) return { text: '', excerpt: '' };
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => {});
      const head = Buffer.concat([...chunks, value]).subarray(0, excerptBytes);
      return { text: undefined, excerpt: head.toString('utf8') };
    }
    chunks.push(value);
  }
  const all = Buffer.concat(chunks);
  return { text: all.toString('utf8'), excerpt: all.subarray(0, excerptBytes).toString('utf8') };
}

/** `ECONNREFUSED 127.0.0.1:3001` rather than undici's bare "fetch failed". */
function networkError(err: unknown): string {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e; depth++) {
    const { code, message, cause } = e as { code?: string; message?: string; cause?: unknown };
    if (code) return `${code}${message && !message.includes(code) ? `: ${message}` : message ? ` (${message})` : ''}`;
    if (!cause) return message ?? String(e);
    e = cause;
  }
  return String(err);
}

/**
 * `GET {url}/health` answered 2xx within `timeoutMs`; otherwise the reason. With `basicAuth` (the URL's login) the
 * probe sends it, and follows no redirect: the credentials go to the configured host and nowhere else.
 */
export async function probeHealth(baseUrl: string, timeoutMs: number, signal: AbortSignal, basicAuth?: string): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    const res = await ofetch.raw(`${baseUrl}/health`, {
      retry: 0,
      signal: AbortSignal.any([AbortSignal.timeout(timeoutMs), signal]),
      headers: basicAuth ? { 'user-agent': USER_AGENT, authorization: basicAuth } : { 'user-agent': USER_AGENT },
      redirect: 'manual',
      responseType: 'text',
      ignoreResponseError: true,
    });
    if (res.status >= 300 && res.status < 400) return { ok: false, reason: `HTTP ${res.status}: redirect not followed` };
    return res.status >= 200 && res.status < 300 ? { ok: true } : { ok: false, reason: `HTTP ${res.status}` };
  } catch (err) {
    return { ok: false, reason: networkError(err) };
  }
}
