// The parsers of the guard rails' settings (issue 22 §2), used by the SETTINGS table in src/config.ts.
import { BLACKOUT_EXPECTED, parseBlackout, type BlackoutWindow } from '../time/blackout.ts';

type Parsed<T> = { value: T } | { expected: string };

/** EXCHANGE_STATUS_URL: an http(s) URL (a query allowed, credentials not: Node's fetch refuses them), or empty. */
export function statusUrl(raw: string): Parsed<string | undefined> {
  if (raw === '') return { value: undefined };
  const expected = 'an http(s) URL such as https://api.binance.com/sapi/v1/system/status, without credentials or fragment, or empty to disable';
  if (!URL.canParse(raw)) return { expected };
  const url = new URL(raw);
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username !== '' || url.password !== '' || url.hash !== '') return { expected };
  return { value: url.href };
}

/**
 * EXCHANGE_STATUS_FIELD: a JSON pointer (RFC 6901) such as `/status` or `/data/0/state`; `~0` and `~1` are its only
 * escapes. Empty: the whole body is the value.
 */
export function jsonPointer(raw: string): Parsed<string[]> {
  if (raw === '') return { value: [] };
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
