import type { Kysely } from 'kysely';
import { EXCHANGE_UNKNOWN, exchangeStep, FAIL_CLOSED_AFTER, readExchangeStatus, type ExchangeObservation, type ExchangeState } from '../../control/guard-rules.ts';
import { guardOff, liftGuard } from '../../control/guard-store.ts';
import { ALL_SYMBOLS, pollDelay } from '../../control/state.ts';
import { errorLine } from '../../log/error-line.ts';
import type { Logger } from '../../log/logger.ts';
import { redactUrlQuery } from '../../log/redact.ts';
import type { Schema } from '../../store/schema.ts';
import type { Clock } from '../../time/clock.ts';
import type { CronPattern } from '../../time/cron-pattern.ts';
import { every } from '../../time/every.ts';

/** The exchange status settings (EXCHANGE_STATUS_*). */
export interface ExchangeWatchSettings {
  url: string;
  intervalMs: number;
  field: string[];
  ok: string;
  failClosed: boolean;
}

/** Longest wait for one answer: a status endpoint answers in milliseconds; a poll never runs into the next one. */
export const STATUS_TIMEOUT_MS = 5000;
/** Largest status answer read: Binance's is ~30 bytes. */
const MAX_STATUS_BYTES = 64 * 1024;

/** One GET of the status endpoint, bounded in time and size: what it said. Never throws. */
export async function pollExchange(s: ExchangeWatchSettings, stop: AbortSignal): Promise<ExchangeObservation> {
  const timeoutMs = Math.min(STATUS_TIMEOUT_MS, s.intervalMs);
  try {
    const res = await fetch(s.url, { signal: AbortSignal.any([stop, AbortSignal.timeout(timeoutMs)]), redirect: 'error', headers: { accept: 'application/json' } });
    if (!res.ok) {
      await res.body?.cancel();
      return { kind: 'failed', why: `HTTP ${res.status}` };
    }
    const text = await res.text();
    if (Buffer.byteLength(text) > MAX_STATUS_BYTES) return { kind: 'failed', why: `answer larger than ${MAX_STATUS_BYTES} bytes` };
    return readExchangeStatus(text, s.field, s.ok);
  } catch (err) {
    const name = (err as Error)?.name;
    if (name === 'TimeoutError') return { kind: 'failed', why: `no answer within ${timeoutMs} ms` };
    return { kind: 'failed', why: errorLine(err) };
  }
}

/**
 * Polls the exchange's status endpoint every EXCHANGE_STATUS_INTERVAL_MS, clear of the slots (pollDelay): maintenance
 * turns execution off (guard `exchange`, every symbol), normal again lifts what this guard turned off, both audited
 * `by guard exchange`, once among replicas. An endpoint that cannot be reached or read is a warning, once per spell,
 * and leaves the last known state in force (never a silent "normal"); with EXCHANGE_STATUS_FAIL_CLOSED it counts as
 * maintenance after FAIL_CLOSED_AFTER failed polls.
 */
export function watchExchange(d: { db: Kysely<Schema>; settings: ExchangeWatchSettings; cron: Pick<CronPattern, 'next' | 'latest'>; clock: Clock; log: Logger; stop: AbortSignal; poll?: typeof pollExchange }): Promise<void> {
  const { db, settings: s, clock, log, stop } = d;
  const shown = redactUrlQuery(s.url);
  const poll = d.poll ?? pollExchange;
  let state: ExchangeState = EXCHANGE_UNKNOWN;
  let lastWhy = '';
  const act = async (action: 'off' | 'lift' | 'warn' | 'recovered', o: ExchangeObservation, now: number) => {
    if (action === 'warn') log.warn(`Exchange status ${shown} cannot be read (${o.kind === 'failed' ? o.why : ''}); ${s.failClosed ? `after ${FAIL_CLOSED_AFTER} failed polls execution goes off (EXCHANGE_STATUS_FAIL_CLOSED)` : 'the last state known stays in force, not taken as normal'}`);
    else if (action === 'recovered') log.info(`Exchange status ${shown} read again`);
    else if (action === 'off') {
      const reason = o.kind === 'maintenance' ? `exchange in maintenance (${s.field.join('/') || 'status'}=${o.value}${o.msg ? `: ${o.msg}` : ''})` : `exchange status unreadable ${FAIL_CLOSED_AFTER} times in a row (${lastWhy}); EXCHANGE_STATUS_FAIL_CLOSED`;
      const figures: Record<string, string | number | boolean> = o.kind === 'maintenance' ? { status: o.value, url: shown } : { failedPolls: FAIL_CLOSED_AFTER, lastError: lastWhy, url: shown };
      const auditId = await guardOff(db, { guard: 'exchange', symbol: ALL_SYMBOLS, reason, figures, at: now });
      log.error(`Guard exchange: execution OFF (all symbols) until the exchange is back: ${reason}${auditId === undefined ? ' (already off)' : ` (audit #${auditId})`}`);
    } else {
      const lifted = await liftGuard(db, 'exchange', `exchange back to normal (${o.kind === 'normal' ? o.value : ''})`, { status: o.kind === 'normal' ? o.value : '', url: shown }, now);
      if (lifted.length > 0) log.warn(`Guard exchange: the exchange is back to normal; execution back on where it had turned it off (${lifted.length} pause(s) lifted)`);
    }
  };
  const chore = async () => {
    const wait = pollDelay(d.cron, clock.now());
    if (wait > 0) await clock.sleep(wait, stop);
    if (stop.aborted) return;
    const o = await poll(s, stop);
    if (stop.aborted) return;
    if (o.kind === 'failed') lastWhy = o.why;
    const { next, actions } = exchangeStep(state, o, s.failClosed);
    try {
      for (const a of actions) await act(a, o, clock.now());
      state = next;
    } catch (err) {
      // The database refused the guard's write: the status is not advanced, so the next poll tries again.
      state = { ...next, status: state.status };
      log.warn(`Guard exchange could not write to the database (${errorLine(err)}); trying again at the next poll`);
    }
  };
  return every(clock, stop, s.intervalMs, chore, 0);
}
