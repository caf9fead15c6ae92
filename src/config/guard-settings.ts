// The guard rails' settings (issue 22 §2, docs/guards.md): their values, parsers, table rows and how they are shown,
// spread into the SETTINGS table of src/config.ts like every other setting.
import { redactUrlQuery } from '../log/redact.ts';
import { BLACKOUT_EXPECTED, describeBlackoutSetting, parseBlackout, type BlackoutWindow } from '../time/blackout.ts';
import { boolean, integer, optionalInteger, type Parsed, type Setting } from './parsers.ts';

/** What the guard settings fill. */
export interface GuardValues {
  /** Orders in the last 60 min (all symbols, all replicas) that turn execution off; undefined: no cap. */
  maxOrdersPerHour: number | undefined;
  maxOrdersPerHourPerSymbol: number | undefined;
  /** This many failed cycles of a symbol in a row turn its execution off; undefined: never. */
  executionOffAfterFailures: number | undefined;
  /** The exchange's status endpoint; undefined: not watched. */
  exchangeStatusUrl: string | undefined;
  exchangeStatusIntervalMs: number;
  /** EXCHANGE_STATUS_FIELD as the JSON pointer's tokens (`/status` → ['status']). */
  exchangeStatusField: string[];
  exchangeStatusOk: string;
  exchangeStatusFailClosed: boolean;
  /** Recurring windows with execution off. */
  executionBlackout: BlackoutWindow[];
}

/** EXCHANGE_STATUS_URL: an http(s) URL (a query allowed, credentials not: Node's fetch refuses them), or empty. */
export function statusUrl(raw: string): Parsed<string | undefined> {
  if (raw === '') return { value: undefined };
  const expected = 'an http(s) URL such as https://api.binance.com/sapi/v1/system/status, without credentials or fragment, or empty to disable';
  if (!URL.canParse(raw)) return { expected };
  const url = new URL(raw);
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '' || url.hash !== '') return { expected };
  return { value: url.href };
}

/** EXCHANGE_STATUS_FIELD: a JSON pointer (RFC 6901) such as `/status` or `/data/0/state`; `~0` and `~1` are its only escapes. */
export function jsonPointer(raw: string): Parsed<string[]> {
  if (!raw.startsWith('/') || /~[^01]|~$/.test(raw)) return { expected: 'a JSON pointer such as /status or /data/state (RFC 6901)' };
  return { value: raw.slice(1).split('/').map((t) => t.replaceAll('~1', '/').replaceAll('~0', '~')) };
}

/** EXCHANGE_STATUS_OK: the value that means normal, compared as text (`0`, `ok`, `true`). */
export function statusOk(raw: string): Parsed<string> {
  return /^[\x20-\x7e]{1,200}$/.test(raw) ? { value: raw } : { expected: 'the value meaning normal, such as 0 or ok (printable, at most 200 characters)' };
}

/** EXECUTION_BLACKOUT: `0 55 7 * * 1-5 10m; 0 0 0 * * 0 30m`, or empty for none. */
export function blackout(raw: string): Parsed<BlackoutWindow[]> {
  const r = parseBlackout(raw);
  return 'windows' in r ? { value: r.windows } : { expected: `${BLACKOUT_EXPECTED}, or empty for none: ${r.error}` };
}

/** The guard settings' rows of the SETTINGS table. */
export const GUARD_SETTINGS: { [K in keyof GuardValues]: Setting<GuardValues[K]> } = {
  maxOrdersPerHour: { env: 'MAX_ORDERS_PER_HOUR', default: '', parse: optionalInteger(1, 1_000_000), help: 'orders placed in the last 60 min (all symbols, all replicas) that turn execution off; unset: no cap' },
  maxOrdersPerHourPerSymbol: { env: 'MAX_ORDERS_PER_HOUR_PER_SYMBOL', default: '', parse: optionalInteger(1, 1_000_000), help: "the same per symbol: reaching it turns that symbol's execution off; unset: no cap" },
  executionOffAfterFailures: { env: 'EXECUTION_OFF_AFTER_FAILURES', default: '', parse: optionalInteger(1, 1000), help: 'this many failed cycles of a symbol in a row (or failed orders) turn its execution off; unset: never' },
  exchangeStatusUrl: { env: 'EXCHANGE_STATUS_URL', default: '', parse: statusUrl, help: 'exchange status endpoint (Binance /sapi/v1/system/status style); maintenance turns execution off; unset: not watched', shownAs: redactUrlQuery },
  exchangeStatusIntervalMs: { env: 'EXCHANGE_STATUS_INTERVAL_MS', default: '30000', parse: integer(1000, 3_600_000), help: 'how often EXCHANGE_STATUS_URL is polled' },
  exchangeStatusField: { env: 'EXCHANGE_STATUS_FIELD', default: '/status', parse: jsonPointer, help: 'JSON pointer to the status in its answer' },
  exchangeStatusOk: { env: 'EXCHANGE_STATUS_OK', default: '0', parse: statusOk, help: 'the status value meaning normal (e.g. 0, ok); any other is maintenance' },
  exchangeStatusFailClosed: { env: 'EXCHANGE_STATUS_FAIL_CLOSED', default: 'false', parse: boolean, help: 'true: three failed polls in a row count as maintenance' },
  executionBlackout: { env: 'EXECUTION_BLACKOUT', default: '', parse: blackout, help: 'windows "CRON DURATION; …" (e.g. "0 55 7 * * 1-5 10m") with execution off' },
};

/** Settings that only make sense together: fail-closed with no endpoint would protect nothing, silently. */
export function guardSettingsProblem(v: GuardValues, names: Record<string, string>): { setting: string; value: string; expected: string } | undefined {
  if (!v.exchangeStatusFailClosed || v.exchangeStatusUrl !== undefined) return undefined;
  return { setting: names.exchangeStatusFailClosed!, value: 'true', expected: `false while ${names.exchangeStatusUrl} is unset: there is no endpoint to fail closed on` };
}

/** A guard setting's value as the configuration line shows it (the URL's query values hidden). */
export function describeGuardSetting(key: keyof GuardValues, c: GuardValues): string {
  if (key === 'exchangeStatusUrl') return c.exchangeStatusUrl === undefined ? '(disabled)' : redactUrlQuery(c.exchangeStatusUrl);
  if (key === 'exchangeStatusField') return `/${c.exchangeStatusField.map((t) => t.replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`;
  if (key === 'executionBlackout') return describeBlackoutSetting(c.executionBlackout);
  const v = c[key];
  return v === undefined ? '(disabled)' : String(v);
}

/** The query values of EXCHANGE_STATUS_URL (an API key, a signature): secrets for the redactor. */
export function exchangeQuerySecrets(c: GuardValues): string[] {
  if (c.exchangeStatusUrl === undefined) return [];
  return [...new URL(c.exchangeStatusUrl).searchParams.values()].filter((v) => v.length >= 4);
}
