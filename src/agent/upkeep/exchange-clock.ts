import { valueAt } from '../../control/guard-rules.ts';
import { readCapped } from '../../diego/client.ts';
import type { FireClock } from '../../config/clock-settings.ts';
import { errorLine } from '../../log/error-line.ts';
import type { Logger } from '../../log/logger.ts';
import { redactUrlQuery } from '../../log/redact.ts';
import type { Clock } from '../../time/clock.ts';
import { formatDuration } from '../../time/durations.ts';
import { combineSamples, EXCHANGE_SAMPLES, exchangeSample, FALLBACK_AFTER, FIRE_CLOCK_UNREAD, fireClockStep, fireOffsetOf, type ExchangeReading, type ExchangeSample, type FireClockState } from '../../time/exchange-time.ts';

/** The exchange's clock settings (EXCHANGE_TIME_URL, EXCHANGE_TIME_FIELD, FIRE_CLOCK). */
export interface ExchangeClockSettings {
  url: string;
  /** The JSON pointer's tokens. */
  field: string[];
  fireClock: FireClock;
}

/** Longest wait for one time answer: a time endpoint answers in milliseconds; a round trip this long is discarded anyway. */
export const TIME_TIMEOUT_MS = 2000;
/** Largest time answer read: Binance's is 28 bytes. More is not a time endpoint: the read stops there. */
export const MAX_TIME_BYTES = 4096;


/** The server's time in an answer: a number (or a number as text) at `field`, or why not. */
export function readServerTime(body: string, field: readonly string[]): number | { error: string } {
  const at = `/${field.join('/')}`;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return { error: 'the answer is not JSON' };
  }
  const found = valueAt(json, field)?.value;
  const ms = typeof found === 'number' ? found : typeof found === 'string' && /^\d{1,16}(\.\d+)?$/.test(found) ? Number(found) : NaN;
  return Number.isFinite(ms) ? ms : { error: `no time (a number of ms) at ${at} in the answer` };
}

/**
 * One GET of the time endpoint, stamped on `clock` at send and at receive: the sample, or why there is none (one
 * line). Bounded in time (TIME_TIMEOUT_MS) and size (MAX_TIME_BYTES); a redirect is not followed. Never throws.
 */
export async function sampleExchangeTime(s: Pick<ExchangeClockSettings, 'url' | 'field'>, clock: Clock, stop: AbortSignal): Promise<ExchangeSample | { error: string }> {
  try {
    const sentAt = clock.now();
    const res = await fetch(s.url, { signal: AbortSignal.any([stop, AbortSignal.timeout(TIME_TIMEOUT_MS)]), redirect: 'manual', headers: { accept: 'application/json' } });
    if (res.status >= 300 && res.status < 400) {
      await res.body?.cancel();
      return { error: `a redirect (HTTP ${res.status}), not followed: set EXCHANGE_TIME_URL to the final URL` };
    }
    if (!res.ok) {
      await res.body?.cancel();
      return { error: `HTTP ${res.status}` };
    }
    const { text: body } = await readCapped(res.body, MAX_TIME_BYTES, 0);
    // Stamped once the whole answer is in (a server may send its head before it writes the time): the floor,
    // `server - receivedAt`, stays a lower bound of the offset whatever the server does.
    const receivedAt = clock.now();
    if (body === undefined) return { error: `an answer larger than ${MAX_TIME_BYTES} bytes` };
    const server = readServerTime(body, s.field);
    return typeof server === 'number' ? exchangeSample(sentAt, server, receivedAt) : server;
  } catch (err) {
    if ((err as Error)?.name === 'TimeoutError') return { error: `no answer within ${TIME_TIMEOUT_MS} ms` };
    return { error: errorLine(err) };
  }
}

/** What the exchange's clock tells the rest of the agent: each reading (metrics, the agents row) and the fire clock's changes. */
export interface ExchangeClockEvents {
  read(reading: ExchangeReading & { at: number; firing: boolean }): void;
  /** The fire clock fell back to ours (`fallback`) or is back on the exchange's (`back`). */
  fireClock(change: 'fallback' | 'back', line: string): void;
}

/**
 * The exchange's clock: measured by the clock check (its `source`, a primary one like the SNTP server) at start and
 * every CLOCK_CHECK_INTERVAL_MS, off the slot's path; with FIRE_CLOCK=exchange `fireOffset()` is what the fire clock
 * adds to ours. A check that cannot read it keeps the last good offset; FALLBACK_AFTER such checks in a row fall back
 * to our clock, loudly, and the next good reading goes back to the exchange's.
 */
export function createExchangeClock(s: ExchangeClockSettings, d: { clock: Clock; log: Logger; stop: AbortSignal; events: ExchangeClockEvents; sample?: typeof sampleExchangeTime }) {
  const { clock, log, stop } = d;
  const sample = d.sample ?? sampleExchangeTime;
  const name = `the exchange ${redactUrlQuery(s.url)}`;
  const firing = s.fireClock === 'exchange';
  let state: FireClockState = FIRE_CLOCK_UNREAD;
  let lastWhy: string | undefined;
  let first!: () => void;
  const firstDone = new Promise<void>((resolve) => (first = resolve));
  const step = (reading: ExchangeReading | undefined) => {
    const { next, change } = fireClockStep(state, reading, clock.now());
    state = next;
    if (!firing || change === undefined) return;
    const line =
      change === 'fallback'
        ? `FIRE_CLOCK=exchange: ${name} could not be read at ${FALLBACK_AFTER} clock checks in a row (${lastWhy}); slots fall back to the local clock until it answers again`
        : `FIRE_CLOCK=exchange: ${name} answers again; slots are back on the exchange's clock (offset ${formatDuration(Math.abs(fireOffsetOf(state)))} ${fireOffsetOf(state) >= 0 ? 'ahead' : 'behind'})`;
    (change === 'fallback' ? log.warn : log.info)(line);
    d.events.fireClock(change, line);
  };
  const measure = async (): Promise<ExchangeReading> => {
    try {
      const samples: ExchangeSample[] = [];
      const errors: string[] = [];
      for (let i = 0; i < EXCHANGE_SAMPLES && !stop.aborted; i++) {
        const got = await sample(s, clock, stop);
        if ('error' in got) errors.push(got.error);
        else samples.push(got);
      }
      const reading = samples.length === 0 ? { error: errors[0] ?? 'stopped' } : combineSamples(samples);
      if ('error' in reading) {
        // Each new reason is a warning (a garbage answer, a redirect, a time years off); the same again is quieter.
        (reading.error === lastWhy ? log.debug : log.warn)(`Clock check: ${name} could not be read (${reading.error})${firing ? `; ${state.kind === 'exchange' ? `the last offset stays in force for ${FALLBACK_AFTER - 1 - state.failures} more failed check(s)` : 'slots fire on the local clock'}` : ''}`);
        lastWhy = reading.error;
        step(undefined);
        throw new Error(reading.error);
      }
      if (errors.length > 0) log.debug(`Clock check: ${errors.length} of ${EXCHANGE_SAMPLES} samples of ${name} failed (${errors[0]})`);
      lastWhy = undefined;
      step(reading);
      d.events.read({ ...reading, at: clock.now(), firing });
      return reading;
    } finally {
      first();
    }
  };
  return {
    /** For the clock check: judged by CLOCK_SKEW_WARN_MS and CLOCK_SKEW_MAX_MS like the SNTP server, and opens its gate. */
    source: { name, primary: true, measure },
    /** What the fire clock adds to ours (ms): the exchange's floor while it is in force; 0 on FIRE_CLOCK=local. */
    fireOffset: (): number => (firing ? fireOffsetOf(state) : 0),
    /** Settled once the first check has tried (answered or not): the first slot is armed after it. */
    first: firstDone,
    get state(): FireClockState {
      return state;
    },
  };
}

export type ExchangeClock = ReturnType<typeof createExchangeClock>;
