import { ALL_SYMBOLS, symbolLabel } from './state.ts';

/**
 * Guard rails, the pure part (issue 22 §2): what the figures read from the database mean. Each decision is a
 * function with a named result; the agent's chores (src/agent/upkeep/guards.ts, exchange-watch.ts) do the I/O.
 */

/** The orders cap counts over this long, on every replica's cycles. */
export const ORDERS_WINDOW_MS = 3_600_000;

/** An orders cap that was reached: of every symbol (`*`, MAX_ORDERS_PER_HOUR) or of one. */
export interface CapReached {
  symbol: string;
  orders: number;
  cap: number;
  setting: 'MAX_ORDERS_PER_HOUR' | 'MAX_ORDERS_PER_HOUR_PER_SYMBOL';
  /** Where the count starts: 60 minutes back, or a person's later `resume --execution`. */
  from: number;
}

/** Whether `orders` counted from `from` reach `cap` (undefined: no cap); the trip's figures when they do. */
export function capReached(symbol: string, orders: number, cap: number | undefined, from: number): CapReached | undefined {
  if (cap === undefined || orders < cap) return undefined;
  return { symbol, orders, cap, from, setting: symbol === ALL_SYMBOLS ? 'MAX_ORDERS_PER_HOUR' : 'MAX_ORDERS_PER_HOUR_PER_SYMBOL' };
}

/** Where a count of the last hour starts: an hour back, unless a person turned execution back on since. */
export const countFrom = (now: number, resumedAt: number): number => Math.max(now - ORDERS_WINDOW_MS, resumedAt);

/** The audit reason of a cap reached. */
export const capReason = (c: CapReached): string =>
  `${c.orders} order(s) placed since ${new Date(c.from).toISOString()} (${symbolLabel(c.symbol)}) reached ${c.setting}=${c.cap}`;

/** Whether the newest outcomes (newest first, true = failed) are `n` failures in a row. */
export const streakReached = (failed: readonly boolean[], n: number | undefined): boolean => n !== undefined && failed.length >= n && failed.slice(0, n).every(Boolean);

/** What one poll of the exchange's status endpoint gave. */
export type ExchangeObservation =
  | { kind: 'normal'; value: string }
  | { kind: 'maintenance'; value: string; msg?: string }
  | { kind: 'failed'; why: string };

/**
 * The value a JSON pointer's tokens (RFC 6901, EXCHANGE_STATUS_FIELD, EXCHANGE_TIME_FIELD) name in a parsed answer:
 * `{ value }`, or undefined when the path leaves the document (a token under a value that is no object or array).
 */
export function valueAt(json: unknown, pointer: readonly string[]): { value: unknown } | undefined {
  let v: unknown = json;
  for (const token of pointer) {
    if (v === null || typeof v !== 'object') return undefined;
    v = Array.isArray(v) ? (/^\d+$/.test(token) ? v[Number(token)] : undefined) : (v as Record<string, unknown>)[token];
  }
  return { value: v };
}

/**
 * Reads a status answer: the value at `pointer` (JSON pointer tokens) compared as text with `ok`. A body that is not
 * JSON, or has no such field, or a value that is an object, is `failed` (unreadable), never `normal`.
 */
export function readExchangeStatus(body: string, pointer: readonly string[], ok: string): ExchangeObservation {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { kind: 'failed', why: 'the answer is not JSON' };
  }
  const found = valueAt(json, pointer);
  if (found === undefined) return { kind: 'failed', why: `no field /${pointer.join('/')} in the answer` };
  const v = found.value;
  if (typeof v !== 'string' && typeof v !== 'number' && typeof v !== 'boolean') return { kind: 'failed', why: `no readable value at /${pointer.join('/')} in the answer` };
  const value = String(v);
  if (value === ok) return { kind: 'normal', value };
  const msg = json !== null && typeof json === 'object' && typeof (json as { msg?: unknown }).msg === 'string' ? (json as { msg: string }).msg.slice(0, 200) : undefined;
  return { kind: 'maintenance', value, ...(msg === undefined ? {} : { msg }) };
}

/** Failed polls in a row after which EXCHANGE_STATUS_FAIL_CLOSED counts the exchange as in maintenance. */
export const FAIL_CLOSED_AFTER = 3;

/** The exchange as this agent knows it: `unknown` until the first readable answer. */
export interface ExchangeState {
  status: 'unknown' | 'normal' | 'maintenance';
  /** Failed polls in a row. */
  failures: number;
}

export const EXCHANGE_UNKNOWN: ExchangeState = { status: 'unknown', failures: 0 };

/**
 * What to do after a poll: `off` (maintenance began, or the endpoint failed FAIL_CLOSED_AFTER times with fail-closed
 * set), `lift` (normal again after maintenance, or first seen normal: what the exchange guard turned off goes),
 * `warn` (the first failure of a spell), `recovered` (readable again after failures). Pure.
 */
export function exchangeStep(s: ExchangeState, o: ExchangeObservation, failClosed: boolean): { next: ExchangeState; actions: ('off' | 'lift' | 'warn' | 'recovered')[] } {
  const actions: ('off' | 'lift' | 'warn' | 'recovered')[] = [];
  if (o.kind === 'failed') {
    const failures = s.failures + 1;
    if (failures === 1) actions.push('warn');
    if (failClosed && failures === FAIL_CLOSED_AFTER && s.status !== 'maintenance') {
      actions.push('off');
      return { next: { status: 'maintenance', failures }, actions };
    }
    return { next: { ...s, failures }, actions };
  }
  if (s.failures > 0) actions.push('recovered');
  if (o.kind === 'maintenance' && s.status !== 'maintenance') actions.push('off');
  if (o.kind === 'normal' && s.status !== 'normal') actions.push('lift');
  return { next: { status: o.kind, failures: 0 }, actions };
}
