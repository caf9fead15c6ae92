// The parsers of the settings (config.ts's SETTINGS table): each takes the raw text of one variable and gives its
// value, or what was expected instead; pure.
import { parseCronPattern, type CronPattern } from '../time/cron-pattern.ts';
import { sqlitePath } from '../store/sqlite/file-url.ts';
import type { DatabaseTarget } from '../store/port.ts';

/** A raw value parsed: the value, or what was expected instead. */
export type Parsed<T> = { value: T } | { expected: string };
export type Parser<T> = (raw: string) => Parsed<T>;

/** A row of the settings table (config.ts SETTINGS, and the rows each settings module adds to it). */
export interface Setting<T> {
  env: string;
  default: string;
  parse: Parser<T>;
  /** Shown in the help of `run` and in the README's table. */
  help: string;
  secret?: boolean;
  /** How its value is shown where it may hold a secret other than a password (a query's key). */
  shownAs?: (raw: string) => string;
}

export const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once beyond this

export const integer =
  (min: number, max = MAX_TIMER_MS): Parser<number> =>
  (raw) => {
    const expected = `an integer from ${min} to ${max}`;
    if (!/^\d+$/.test(raw)) return { expected };
    const n = Number(raw);
    return n >= min && n <= max ? { value: n } : { expected };
  };

export const boolean: Parser<boolean> = (raw) => {
  const v = raw.toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return { value: true };
  if (['false', '0', 'no'].includes(v)) return { value: false };
  return { expected: 'true/false, 1/0 or yes/no' };
};

export const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw) =>
    (values as string[]).includes(raw.toLowerCase()) ? { value: raw.toLowerCase() as T } : { expected: `one of ${values.join(', ')} (any case)` };

export const httpUrl =
  (optional: boolean): Parser<string | undefined> =>
  (raw) => {
    if (raw === '' && optional) return { value: undefined };
    const expected = optional ? 'an http(s) URL, or empty to disable' : 'an http(s) URL such as http://diego:3001';
    try {
      const url = new URL(raw);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') return { expected };
      if (url.search || url.hash) return { expected: `${expected}, without query or fragment` };
      return { value: url.href.replace(/\/+$/, '') };
    } catch {
      return { expected };
    }
  };

export const requiredUrl: Parser<string> = (raw) => {
  const r = httpUrl(false)(raw);
  return 'value' in r ? { value: r.value as string } : r;
};

export const cronPattern: Parser<CronPattern> = (raw) => {
  const r = parseCronPattern(raw);
  return 'pattern' in r
    ? { value: r.pattern }
    : { expected: `a cron pattern with 5 or 6 fields (seconds first), such as "0 * * * * *" (${r.error})` };
};

export const SYMBOL = /^[A-Z0-9]+\/[A-Z0-9]+$/;
export const symbols: Parser<string[]> = (raw) => {
  const list = raw.split(',').map((s) => s.trim());
  const expected = 'a comma-separated list of pairs such as BTC/USDT,ETH/USDT, without duplicates';
  if (list.some((s) => !SYMBOL.test(s)) || new Set(list).size !== list.length) return { expected };
  return { value: list };
};

export const timeframe: Parser<string> = (raw) =>
  /^[1-9]\d*[smhdwM]$/.test(raw) ? { value: raw } : { expected: 'a timeframe such as 1m, 5m, 1h or 1d' };

export const token: Parser<string | undefined> = (raw) => {
  if (raw === '') return { value: undefined };
  // At least 8 characters: a shorter "token" could not be redacted from log lines without mangling them.
  return /^[\x21-\x7e]{8,}$/.test(raw) ? { value: raw } : { expected: 'a token of at least 8 printable characters without spaces' };
};

export const database: Parser<DatabaseTarget> = (raw) => {
  if (/^postgres(ql)?:\/\//i.test(raw)) {
    const expected = 'a PostgreSQL URL such as postgres://user:password@host:5432/database';
    try {
      const url = new URL(raw);
      // libpq's `postgres:///db?host=/run/postgresql` names a socket directory instead of a host.
      return url.hostname === '' && !url.searchParams.has('host') ? { expected } : { value: { kind: 'postgres', url: raw } };
    } catch {
      return { expected };
    }
  }
  // A mistyped scheme (`postgress://u:pw@h/db`) would otherwise become a relative file path, a directory named after
  // the URL, password included: any other `scheme://` is refused (and shown redacted, as every value is).
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(raw) && !/^(sqlite|file):/i.test(raw)) return { expected: 'a SQLite file path, a sqlite: or file: URL, or a postgres:// URL' };
  const path = sqlitePath(raw);
  if (typeof path !== 'string') return path;
  return path === '' || path.endsWith('/') ? { expected: 'a SQLite file path such as ./data/pmf-scheduler.db' } : { value: { kind: 'sqlite', path } };
};

export const optionalInteger =
  (min: number, max: number): Parser<number | undefined> =>
  (raw) =>
    raw === '' ? { value: undefined } : integer(min, max)(raw);

export const webhookUrls: Parser<string[]> = (raw) => {
  if (raw === '') return { value: [] };
  const expected = 'one or more http(s) URLs, comma-separated, without duplicates, credentials or fragment';
  const urls = raw.split(',').map((u) => u.trim());
  // A query stays (some webhooks carry their token there). Credentials are refused: Node's fetch will not send a
  // request to such a URL, so the webhook could never be reached.
  const ok = (u: string) => {
    if (!URL.canParse(u)) return false;
    const url = new URL(u);
    return (url.protocol === 'http:' || url.protocol === 'https:') && url.hash === '' && url.username === '' && url.password === '';
  };
  if (!urls.every(ok) || new Set(urls).size !== urls.length) return { expected };
  return { value: urls };
};

// host, host:port, an IPv4 address, or [IPv6]:port; the port defaults to NTP's 123.
export const HOST_PORT = /^(?:\[([0-9a-f:.]+)\]|([a-z0-9.-]+))(?::(\d{1,5}))?$/i;
export const ntpServer: Parser<{ host: string; port: number } | undefined> = (raw) => {
  if (raw === '') return { value: undefined };
  const m = HOST_PORT.exec(raw);
  const port = m?.[3] === undefined ? 123 : Number(m[3]);
  if (!m || port < 1 || port > 65535) return { expected: 'an NTP server as host or host:port, such as pool.ntp.org or 127.0.0.1:123, or empty to disable' };
  return { value: { host: m[1] ?? m[2]!, port } };
};

export const replicaId: Parser<string | undefined> = (raw) => {
  if (raw === '') return { value: undefined };
  return /^[\x21-\x7e]{1,200}$/.test(raw) ? { value: raw } : { expected: 'up to 200 printable characters without spaces, unique to this replica' };
};

export const optionalFile: Parser<string | undefined> = (raw) => {
  if (raw === '') return { value: undefined };
  return raw.endsWith('/') ? { expected: 'a file path such as /var/lib/node_exporter/pmf-scheduler.prom, or empty to disable' } : { value: raw };
};

// https://core.telegram.org/bots/api#authorizing-your-bot: `<bot id>:<secret>`.
export const botToken: Parser<string | undefined> = (raw) =>
  raw === '' || /^\d{1,20}:[A-Za-z0-9_-]{20,100}$/.test(raw) ? { value: raw || undefined } : { expected: 'a bot token from @BotFather such as 123456789:AAH…, or empty' };
export const botApiUrl: Parser<string> = (raw) => {
  const r = httpUrl(false)(raw);
  return 'value' in r ? { value: r.value as string } : { expected: 'an http(s) URL such as https://api.telegram.org, without query or fragment' };
};
export const chatId: Parser<string | undefined> = (raw) =>
  raw === '' || /^-?\d{1,20}$|^@[A-Za-z][A-Za-z0-9_]{3,31}$/.test(raw) ? { value: raw || undefined } : { expected: 'a chat id such as -1001234567890 or a channel name such as @desk_alerts, or empty' };
