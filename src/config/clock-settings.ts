// The settings of the exchange's clock and of freshness (issue 23 §1 and §3, docs/reliability.md): their values,
// parsers, table rows and how they are shown, spread into the SETTINGS table of src/config.ts like every other one.
import { redactUrlQuery } from '../log/redact.ts';
import { jsonPointer, statusUrl } from './guard-settings.ts';
import { oneOf, optionalInteger, type Parsed, type Setting } from './parsers.ts';

/** Which clock the slots are the moments of: ours, or the exchange's (local time minus the measured offset). */
export type FireClock = 'local' | 'exchange';

/** What the clock settings fill. */
export interface ClockValues {
  /** The exchange's time endpoint (Binance `GET /api/v3/time`); undefined: not measured. */
  exchangeTimeUrl: string | undefined;
  /** EXCHANGE_TIME_FIELD as the JSON pointer's tokens (`/serverTime` → ['serverTime']). */
  exchangeTimeField: string[];
  fireClock: FireClock;
  /** A first request later than this after its slot is not sent (skipped, reason `late`); undefined: half the gap to the next slot. */
  maxLatenessMs: number | undefined;
}

/** EXCHANGE_TIME_URL: as EXCHANGE_STATUS_URL, an http(s) URL without credentials or fragment, or empty. */
function timeUrl(raw: string): Parsed<string | undefined> {
  const r = statusUrl(raw);
  return 'expected' in r ? { expected: r.expected.replace('/sapi/v1/system/status', '/api/v3/time') } : r;
}

/** The clock settings' rows of the SETTINGS table. */
export const CLOCK_SETTINGS: { [K in keyof ClockValues]: Setting<ClockValues[K]> } = {
  exchangeTimeUrl: { env: 'EXCHANGE_TIME_URL', default: '', parse: timeUrl, help: "the exchange's time endpoint (Binance /api/v3/time); its offset is measured at every clock check; unset: not measured", shownAs: redactUrlQuery },
  exchangeTimeField: { env: 'EXCHANGE_TIME_FIELD', default: '/serverTime', parse: jsonPointer, help: "JSON pointer to the server's time (ms since the epoch) in its answer" },
  fireClock: { env: 'FIRE_CLOCK', default: 'local', parse: oneOf('local', 'exchange'), help: "exchange: each slot is the exchange's moment (needs EXCHANGE_TIME_URL); local: ours" },
  maxLatenessMs: { env: 'MAX_LATENESS_MS', default: '', parse: optionalInteger(1, 86_400_000), help: "a first request that cannot leave this long after its slot is not sent (skipped, reason late); unset: half the gap to the next slot" },
};

/** Settings that only make sense together: an exchange clock with nothing to read it from would fire on ours, silently. */
export function clockSettingsProblem(v: ClockValues, names: Record<string, string>): { setting: string; value: string; expected: string } | undefined {
  if (v.fireClock !== 'exchange' || v.exchangeTimeUrl !== undefined) return undefined;
  return { setting: names.fireClock!, value: 'exchange', expected: `local while ${names.exchangeTimeUrl} is unset: the exchange's clock is read from it` };
}

/** A clock setting's value as the configuration line shows it (the URL's query values hidden). */
export function describeClockSetting(key: keyof ClockValues, c: ClockValues): string {
  if (key === 'exchangeTimeUrl') return c.exchangeTimeUrl === undefined ? '(disabled)' : redactUrlQuery(c.exchangeTimeUrl);
  if (key === 'exchangeTimeField') return `/${c.exchangeTimeField.map((t) => t.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`;
  if (key === 'maxLatenessMs') return c.maxLatenessMs === undefined ? '(half the gap to the next slot)' : String(c.maxLatenessMs);
  return c.fireClock;
}

/** The query values of EXCHANGE_TIME_URL (an API key): secrets for the redactor. */
export function timeQuerySecrets(c: ClockValues): string[] {
  if (c.exchangeTimeUrl === undefined) return [];
  return [...new URL(c.exchangeTimeUrl).searchParams.values()].filter((v) => v.length >= 4);
}
