import { ofetch } from 'ofetch';
import { interpretResponse, type ResponseMeaning } from './response.ts';
import { parseRetryAfter } from '../records.ts';
import { sendStamp } from '../time/clock.ts';
import { VERSION } from '../version.ts';

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
  /** Covers the whole attempt, body included (ofetch's own timeout stops at the headers). */
  timeoutMs: number;
  /** Aborts the attempt at shutdown; the outcome is then `aborted`. */
  signal: AbortSignal;
  /** Ends the attempt at the cycle's deadline (the next slot); the outcome is then `timeout`. */
  deadline?: AbortSignal;
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

/** Talks to Diego: `analyze` sends one attempt (retries belong to the cycle), `health` probes `GET /health`. */
export interface DiegoClient {
  analyze(req: AnalyzeRequest, opts: AttemptOptions): Promise<AttemptResult>;
}

export const USER_AGENT = `pmf-scheduler/${VERSION}`;
const DEFAULT_EXCERPT_BYTES = 16 * 1024;

/** Creates the client; every attempt is a single ofetch request with `retry: 0` and its own AbortSignal. */
export function createDiegoClient(opts: DiegoClientOptions): DiegoClient {
  const excerptBytes = opts.excerptBytes ?? DEFAULT_EXCERPT_BYTES;
  const url = `${opts.baseUrl}/analyze`;
  return {
    async analyze(req, a) {
      const timeout = AbortSignal.timeout(Math.max(1, a.timeoutMs));
      const signal = AbortSignal.any(a.deadline ? [timeout, a.signal, a.deadline] : [timeout, a.signal]);
      const headers: Record<string, string> = {
        'content-type': 'application/json',
        accept: 'application/json',
        'idempotency-key': a.idempotencyKey,
        'x-request-id': a.requestId,
        'user-agent': USER_AGENT,
      };
      if (opts.token) headers.authorization = `Bearer ${opts.token}`;
      else if (opts.basicAuth) headers.authorization = opts.basicAuth;
      const failed = (err: unknown): AttemptResult => {
        if (a.signal.aborted) return { outcome: 'aborted', error: 'aborted at shutdown', executed: false };
        if (a.deadline?.aborted) return { outcome: 'timeout', error: 'no complete answer by the deadline (the next slot)', executed: false };
        if (timeout.aborted) return { outcome: 'timeout', error: `no complete answer within ${a.timeoutMs} ms`, executed: false };
        return { outcome: 'network_error', error: networkError(err), executed: false };
      };
      // The send time, stamped last: Diego (and the precision benchmark) can split lateness into our scheduling
      // (slot → this instant) and the transfer (this instant → arrival). Wall-clock epoch ms with µs, cheap and not secret.
      headers['x-sent-at'] = sendStamp(opts.now()).toFixed(3);
      let response: Response;
      try {
        response = await ofetch.raw(url, {
          method: 'POST',
          body: JSON.stringify(req),
          headers,
          retry: 0,
          signal,
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
    },
  };
}

/** Reads a body up to `limit` bytes; past it, stops reading (text undefined) so memory stays bounded. */
async function readCapped(body: ReadableStream<Uint8Array> | null, limit: number, excerptBytes: number): Promise<{ text: string | undefined; excerpt: string }> {
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
