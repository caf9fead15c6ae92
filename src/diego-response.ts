import type { AttemptOutcome } from './store/schema.ts';

/** What a Diego answer means for the cycle, decided from status and body alone. */
export interface ResponseMeaning {
  outcome: AttemptOutcome;
  error?: string;
  /** Compact one-line view of the body for logs and history. */
  summary?: string;
  /** Diego's answer says an order was placed. */
  executed: boolean;
}

const RETRYABLE_HTTP = (status: number) => status >= 500 || status === 408 || status === 425 || status === 429;

/** Classifies one HTTP answer. `body` is the text read (undefined when it exceeded the size limit). */
export function interpretResponse(status: number, body: string | undefined, limitBytes: number, location?: string | null): ResponseMeaning {
  if (status >= 300 && status < 400) return { outcome: 'rejected', error: `HTTP ${status}: redirect${location ? ` to ${location}` : ''} not followed`, executed: false };
  if (status < 200 || status >= 300) {
    const detail = body === undefined ? '' : errorText(safeJson(body)) ?? body.slice(0, 200).trim();
    return { outcome: RETRYABLE_HTTP(status) ? 'http_error' : 'rejected', error: `HTTP ${status}${detail ? `: ${detail}` : ''}`, executed: false };
  }
  if (body === undefined) return { outcome: 'invalid_response', error: `too large: body exceeds ${limitBytes} bytes`, executed: false };
  // An array is not an answer either: Diego always sends an object, so anything else is a broken or foreign reply.
  const json = obj(safeJson(body));
  if (json === undefined) return { outcome: 'invalid_response', error: 'body is not a JSON object', executed: false };
  const summary = summarizeBody(json);
  if (json.success === false) {
    return { outcome: 'invalid_response', error: `success: false${errorText(json) ? `: ${errorText(json)}` : ''}`, summary, executed: false };
  }
  return { outcome: 'ok', summary, executed: executionPlaced(json) };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorText(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const { error, message } = json as { error?: unknown; message?: unknown };
  const e = error ?? message;
  if (typeof e === 'string') return e;
  if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return (e as { message: string }).message;
  return undefined;
}

type Obj = Record<string, unknown>;
const obj = (v: unknown): Obj | undefined => (v && typeof v === 'object' && !Array.isArray(v) ? (v as Obj) : undefined);

/** Whether the body's execution part says an order was placed (`placed: true`, or an order id without `placed: false`). */
export function executionPlaced(body: unknown): boolean {
  const exec = obj(obj(body)?.execution);
  if (!exec) return false;
  if (typeof exec.placed === 'boolean') return exec.placed;
  return exec.orderId !== undefined && exec.orderId !== null;
}

/** `{ success: true, signal: BUY, confidence: 0.82, price: 97012.5, execution: placed sim-3 buy 0.001 }`. */
export function summarizeBody(body: unknown): string {
  const b = obj(body) ?? {};
  const a = obj(b.analysis) ?? b;
  const parts: string[] = [`success: ${b.success === undefined ? '?' : String(b.success)}`];
  for (const key of ['signal', 'confidence', 'price'] as const) {
    const v = a[key];
    if (typeof v === 'string' || typeof v === 'number') parts.push(`${key}: ${v}`);
  }
  const exec = obj(b.execution);
  if (exec) {
    const placed = executionPlaced(b);
    const detail = placed
      ? [exec.orderId, exec.side, exec.quantity, exec.price !== undefined ? `@ ${exec.price}` : undefined]
      : [typeof exec.reason === 'string' ? exec.reason : undefined];
    parts.push(`execution: ${[placed ? 'placed' : 'none', ...detail.filter((d) => d !== undefined && d !== null)].join(' ')}`);
  }
  const err = errorText(b);
  if (err) parts.push(`error: ${err}`);
  return `{ ${parts.join(', ')} }`;
}
