import { isRetryableStatus, type AttemptOutcome } from '../records.ts';

/** What a Diego answer means for the cycle, decided from status and body alone. */
export interface ResponseMeaning {
  outcome: AttemptOutcome;
  error?: string;
  /** Compact one-line view of the body, for the log. */
  summary?: string;
  /** Fewer words, for the cycle's row in the history (see {@link briefOf}). */
  brief?: string;
  /** Diego's answer says an order was placed. */
  executed: boolean;
  /** Diego's answer says the order it tried failed (see {@link executionFailed}); counts toward the failure streak. */
  executionFailed?: boolean;
}

/**
 * The most characters kept of any text taken from Diego's answer: its error, each field of the summary (signal,
 * price, order…), and the summary and brief as a whole. A 900 KB `error` was stored whole three times per failed
 * cycle and logged as many times (issue 15 item 6); a real one is a sentence, a real signal a word.
 */
export const DIEGO_TEXT_MAX = 300;

/** `text` cut to `max` characters, an ellipsis saying it was cut. */
export function capText(text: string, max = DIEGO_TEXT_MAX): string {
  if (text.length <= max) return text;
  // Not between the two halves of a surrogate pair: the stored text stays valid UTF-16.
  const end = /[\uD800-\uDBFF]/.test(text[max - 2] ?? '') ? max - 2 : max - 1;
  return `${text.slice(0, end)}…`;
}

/** Classifies one HTTP answer. `body` is the text read (undefined when it exceeded the size limit). */
export function interpretResponse(status: number, body: string | undefined, limitBytes: number, location?: string | null): ResponseMeaning {
  if (status >= 300 && status < 400) return { outcome: 'rejected', error: `HTTP ${status}: redirect${location ? ` to ${capText(location)}` : ''} not followed`, executed: false };
  if (status < 200 || status >= 300) {
    const detail = body === undefined ? '' : errorField(safeJson(body)) ?? body.slice(0, 200).trim();
    return { outcome: isRetryableStatus(status) ? 'http_error' : 'rejected', error: `HTTP ${status}${detail ? `: ${detail}` : ''}`, executed: false };
  }
  if (body === undefined) return { outcome: 'invalid_response', error: `too large: body exceeds ${limitBytes} bytes`, executed: false };
  // An array is not an answer either: Diego always sends an object, so anything else is a broken or foreign reply.
  const json = obj(safeJson(body));
  if (json === undefined) return { outcome: 'invalid_response', error: 'body is not a JSON object', executed: false };
  const read = { summary: summarizeBody(json), brief: briefOf(json) };
  if (json.success === false) {
    return { outcome: 'invalid_response', error: `success: false${errorField(json) ? `: ${errorField(json)}` : ''}`, ...read, executed: false };
  }
  return { outcome: 'ok', ...read, executed: executionPlaced(json), ...(executionFailed(json) ? { executionFailed: true } : {}) };
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function errorField(json: unknown): string | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const { error, message } = json as { error?: unknown; message?: unknown };
  const e = error ?? message;
  if (typeof e === 'string') return capText(e);
  if (e && typeof e === 'object' && typeof (e as { message?: unknown }).message === 'string') return capText((e as { message: string }).message);
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

/**
 * Whether the body's execution part says the order Diego tried failed: `success: false`, an `error`, or a `status` of
 * `failed`, `error` or `rejected` (an order refused by the exchange). A HOLD (`placed: false` with a reason) is no
 * failure.
 */
export function executionFailed(body: unknown): boolean {
  const exec = obj(obj(body)?.execution);
  if (!exec) return false;
  if (exec.success === false) return true;
  if (exec.error !== undefined && exec.error !== null && exec.error !== false) return true;
  return typeof exec.status === 'string' && ['failed', 'error', 'rejected'].includes(exec.status.toLowerCase());
}

/** What reports say of an answer, each part as text, absent when the body has no such field. */
interface AnswerParts {
  success: string;
  signal?: string;
  confidence?: string;
  price?: string;
  /** The execution part: `placed sim-3 buy 0.001` or `none signal HOLD`, and the order's price apart. */
  execution?: { text: string; price?: string };
  error?: string;
}

function answerParts(body: unknown): AnswerParts {
  const b = obj(body) ?? {};
  const a = obj(b.analysis) ?? b;
  const text = (v: unknown) => (typeof v === 'string' || typeof v === 'number' ? capText(String(v)) : undefined);
  const parts: AnswerParts = { success: b.success === undefined ? '?' : String(b.success), signal: text(a.signal), confidence: text(a.confidence), price: text(a.price), error: errorField(b) };
  const exec = obj(b.execution);
  if (exec) {
    const placed = executionPlaced(b);
    const detail = placed ? [exec.orderId, exec.side, exec.quantity] : [typeof exec.reason === 'string' ? exec.reason : undefined];
    const words = [placed ? 'placed' : 'none', ...detail.filter((d) => d !== undefined && d !== null)].join(' ');
    parts.execution = { text: words, price: placed && exec.price !== undefined ? String(exec.price) : undefined };
  }
  return parts;
}

/** The log's view of an answer: `{ success: true, signal: BUY, confidence: 0.82, price: 97012.5, execution: placed sim-3 buy 0.001 @ 97012.5 }`. */
export function summarizeBody(body: unknown): string {
  const { execution, ...p } = answerParts(body);
  const order = execution && `${execution.text}${execution.price === undefined ? '' : ` @ ${execution.price}`}`;
  const fields = Object.entries({ signal: p.signal, confidence: p.confidence, price: p.price, execution: order, error: p.error }).filter(([, v]) => v !== undefined);
  return capText(`{ ${[`success: ${p.success}`, ...fields.map(([k, v]) => `${k}: ${v}`)].join(', ')} }`);
}

/**
 * The history's view of an answer, kept on its cycle's row, a few words a minute for years:
 * `BUY 0.82 @ 97012.5 · placed sim-3 buy 0.001` (an order's price only when it differs from the analysis price),
 * `HOLD 0.4 · none signal HOLD`; an answer that is not a success says so first (`success false · error: no data`).
 */
export function briefOf(body: unknown): string {
  const p = answerParts(body);
  const call = [p.signal, p.confidence, p.price === undefined ? undefined : `@ ${p.price}`].filter((x) => x !== undefined).join(' ');
  const order = p.execution && `${p.execution.text}${p.execution.price === undefined || p.execution.price === p.price ? '' : ` @ ${p.execution.price}`}`;
  const parts = [p.success === 'true' ? undefined : `success ${p.success}`, call || undefined, order, p.error === undefined ? undefined : `error: ${p.error}`];
  return capText(parts.filter((x) => x !== undefined).join(' · '));
}
