import { parseCronPattern, type CronPattern } from './cron-pattern.ts';
import { redactUrl } from './redact.ts';

export type LogFormat = 'pretty' | 'json';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/** Where history lives: a SQLite file (one host), or a PostgreSQL server shared by replicas (high availability). */
export type DatabaseTarget = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** The agent's whole configuration, parsed and validated once at start-up. */
export interface Config {
  diegoUrl: string;
  cron: CronPattern;
  enableScheduler: boolean;
  retryAttempts: number;
  retryDelayMs: number;
  runOnStart: boolean;
  symbols: string[];
  timeframe: string;
  triggerExecution: boolean;
  diegoTimeoutMs: number;
  diegoToken: string | undefined;
  miguelUrl: string | undefined;
  waitForReady: boolean;
  readyTimeoutMs: number;
  database: DatabaseTarget;
  /** Names this agent in `cycles.owner` and `agents`; undefined: `host:pid`. Must differ between replicas. */
  replicaId: string | undefined;
  statsIntervalMs: number;
  shutdownGraceMs: number;
  maxResponseBytes: number;
  /** 0 keeps everything. */
  historyRetentionDays: number;
  /** Prometheus textfile rewritten after every cycle; undefined: off. */
  metricsFile: string | undefined;
  logFormat: LogFormat;
  logLevel: LogLevel;
}

/** One invalid setting: enough to print a single line that names it. */
export interface ConfigProblem {
  setting: string;
  value: string;
  expected: string;
}

type Parsed<T> = { value: T } | { expected: string };
type Parser<T> = (raw: string) => Parsed<T>;

interface Setting<T> {
  env: string;
  default: string;
  parse: Parser<T>;
  /** Shown in the help of `run` and in the README's table. */
  help: string;
  secret?: boolean;
}

const MAX_TIMER_MS = 2 ** 31 - 1; // setTimeout fires at once beyond this

const integer =
  (min: number, max = MAX_TIMER_MS): Parser<number> =>
  (raw) => {
    const expected = `an integer from ${min} to ${max}`;
    if (!/^\d+$/.test(raw)) return { expected };
    const n = Number(raw);
    return n >= min && n <= max ? { value: n } : { expected };
  };

const boolean: Parser<boolean> = (raw) => {
  const v = raw.toLowerCase();
  if (['true', '1', 'yes'].includes(v)) return { value: true };
  if (['false', '0', 'no'].includes(v)) return { value: false };
  return { expected: 'true/false, 1/0 or yes/no' };
};

const oneOf =
  <T extends string>(...values: T[]): Parser<T> =>
  (raw) =>
    (values as string[]).includes(raw.toLowerCase()) ? { value: raw.toLowerCase() as T } : { expected: `one of ${values.join(', ')} (any case)` };

const httpUrl =
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

const requiredUrl: Parser<string> = (raw) => {
  const r = httpUrl(false)(raw);
  return 'value' in r ? { value: r.value as string } : r;
};

const cronPattern: Parser<CronPattern> = (raw) => {
  const r = parseCronPattern(raw);
  return 'pattern' in r
    ? { value: r.pattern }
    : { expected: `a cron pattern with 5 or 6 fields (seconds first), such as "0 * * * * *" (${r.error})` };
};

const SYMBOL = /^[A-Z0-9]+\/[A-Z0-9]+$/;
const symbols: Parser<string[]> = (raw) => {
  const list = raw.split(',').map((s) => s.trim());
  const expected = 'a comma-separated list of pairs such as BTC/USDT,ETH/USDT, without duplicates';
  if (list.some((s) => !SYMBOL.test(s)) || new Set(list).size !== list.length) return { expected };
  return { value: list };
};

const timeframe: Parser<string> = (raw) =>
  /^[1-9]\d*[smhdwM]$/.test(raw) ? { value: raw } : { expected: 'a timeframe such as 1m, 5m, 1h or 1d' };

const token: Parser<string | undefined> = (raw) => {
  if (raw === '') return { value: undefined };
  // At least 8 characters: a shorter "token" could not be redacted from log lines without mangling them.
  return /^[\x21-\x7e]{8,}$/.test(raw) ? { value: raw } : { expected: 'a token of at least 8 printable characters without spaces' };
};

const database: Parser<DatabaseTarget> = (raw) => {
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
  const path = raw.replace(/^(sqlite|file):(\/\/)?/i, '');
  return path === '' || path.endsWith('/') ? { expected: 'a SQLite file path such as ./data/pmf-scheduler.db' } : { value: { kind: 'sqlite', path } };
};

const replicaId: Parser<string | undefined> = (raw) => {
  if (raw === '') return { value: undefined };
  return /^[\x21-\x7e]{1,200}$/.test(raw) ? { value: raw } : { expected: 'up to 200 printable characters without spaces, unique to this replica' };
};

const optionalFile: Parser<string | undefined> = (raw) => {
  if (raw === '') return { value: undefined };
  return raw.endsWith('/') ? { expected: 'a file path such as /var/lib/node_exporter/pmf-scheduler.prom, or empty to disable' } : { value: raw };
};

/** Every setting, its environment variable, default and parser; `run --flag-name` mirrors each one. */
export const SETTINGS: { [K in keyof Config]: Setting<Config[K]> } = {
  diegoUrl: { env: 'DIEGO_URL', default: 'http://diego:3001', parse: requiredUrl, help: "Diego's base URL" },
  cron: { env: 'CRON_PATTERN', default: '0 * * * * *', parse: cronPattern, help: '6 fields with seconds (5-field patterns also accepted)' },
  enableScheduler: { env: 'ENABLE_SCHEDULER', default: 'true', parse: boolean, help: 'false: make no call, stay up idle until a signal' },
  retryAttempts: { env: 'RETRY_ATTEMPTS', default: '3', parse: integer(1, 100), help: 'attempts in all per cycle' },
  retryDelayMs: { env: 'RETRY_DELAY_MS', default: '5000', parse: integer(0), help: 'delay between attempts' },
  runOnStart: { env: 'RUN_ON_START', default: 'true', parse: boolean, help: 'run one cycle right after start-up' },
  symbols: { env: 'SYMBOLS', default: 'BTC/USDT', parse: symbols, help: 'comma-separated; one request per symbol per cycle' },
  timeframe: { env: 'TIMEFRAME', default: '1m', parse: timeframe, help: 'sent as timeframe' },
  triggerExecution: { env: 'TRIGGER_EXECUTION', default: 'true', parse: boolean, help: 'sent as triggerExecution' },
  diegoTimeoutMs: { env: 'DIEGO_TIMEOUT_MS', default: '20000', parse: integer(1), help: 'per attempt, body included' },
  diegoToken: { env: 'DIEGO_TOKEN', default: '', parse: token, help: 'bearer token; never logged, never stored', secret: true },
  miguelUrl: { env: 'MIGUEL_URL', default: 'http://miguel:3002', parse: httpUrl(true), help: 'for the readiness wait only; empty disables it' },
  waitForReady: { env: 'WAIT_FOR_READY', default: 'true', parse: boolean, help: 'wait for Diego and Miguel /health before the first cycle' },
  readyTimeoutMs: { env: 'READY_TIMEOUT_MS', default: '0', parse: integer(0), help: '0 waits forever; otherwise exit 1 when it runs out' },
  database: { env: 'DATABASE_URL', default: './data/pmf-scheduler.db', parse: database, help: 'SQLite file, or postgres://user:password@host:5432/db shared by replicas' },
  replicaId: { env: 'REPLICA_ID', default: '', parse: replicaId, help: 'names this replica in the history (default host:pid); unique per replica' },
  statsIntervalMs: { env: 'STATS_INTERVAL_MS', default: '600000', parse: integer(0), help: 'how often the stats summary is logged; 0 disables it' },
  shutdownGraceMs: { env: 'SHUTDOWN_GRACE_MS', default: '8000', parse: integer(0), help: 'how long SIGTERM waits for an in-flight cycle' },
  maxResponseBytes: { env: 'MAX_RESPONSE_BYTES', default: '1048576', parse: integer(1024, 256 * 1024 * 1024), help: "largest Diego body read; beyond it the attempt is invalid_response" },
  historyRetentionDays: { env: 'HISTORY_RETENTION_DAYS', default: '90', parse: integer(0, 36_500), help: 'the agent deletes older cycles once a day; 0 keeps everything' },
  metricsFile: { env: 'METRICS_FILE', default: '', parse: optionalFile, help: 'Prometheus textfile rewritten after every cycle; unset: off' },
  logFormat: { env: 'LOG_FORMAT', default: 'pretty', parse: oneOf('pretty', 'json'), help: 'pretty or json (one object per line)' },
  logLevel: { env: 'LOG_LEVEL', default: 'info', parse: oneOf('debug', 'info', 'warn', 'error'), help: 'debug, info, warn or error' },
};

/** `DIEGO_URL` → `diego-url`: the `run` flag that overrides an environment variable. */
export function flagName(env: string): string {
  return env.toLowerCase().replaceAll('_', '-');
}

/** Shows a value in an error or log line without leaking a secret. */
function shown(setting: Setting<unknown>, raw: string): string {
  if (setting.secret) return raw === '' ? '' : '[redacted]';
  return redactUrl(raw);
}

/**
 * Builds the configuration from the environment and `run` flags (flags win, keyed by flag name).
 * Empty variables count as unset, except where empty has a meaning (MIGUEL_URL, DIEGO_TOKEN).
 */
export function parseConfig(
  env: Record<string, string | undefined>,
  flags: Record<string, string> = {},
): { config: Config } | { problems: ConfigProblem[] } {
  const problems: ConfigProblem[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof Config, Setting<unknown>][]) {
    const flag = flagName(setting.env);
    const fromFlag = flags[flag];
    const fromEnv = env[setting.env];
    const emptyMeansSomething = setting.default === '' || key === 'miguelUrl';
    let raw: string;
    let name: string;
    if (fromFlag !== undefined) [raw, name] = [fromFlag, `--${flag}`];
    else if (fromEnv !== undefined && (fromEnv !== '' || emptyMeansSomething)) [raw, name] = [fromEnv, setting.env];
    else [raw, name] = [setting.default, setting.env];
    const parsed = setting.parse(raw.trim());
    if ('value' in parsed) out[key] = parsed.value;
    else problems.push({ setting: name, value: shown(setting, raw), expected: parsed.expected });
  }
  return problems.length > 0 ? { problems } : { config: Object.freeze(out as unknown as Config) };
}

/** One line for one problem: the setting, its value, what is expected. */
export function formatProblem(p: ConfigProblem): string {
  return `Invalid ${p.setting}=${JSON.stringify(p.value)}: expected ${p.expected}`;
}

/** The effective configuration as loggable text, secrets redacted. */
export function describeConfig(config: Config): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof Config, Setting<unknown>][]) {
    const v = config[key];
    let text: string;
    if (setting.secret) text = v === undefined ? '(unset)' : '[redacted]';
    else if (v === undefined) text = key === 'replicaId' ? '(host:pid)' : '(disabled)';
    else if (key === 'cron') text = config.cron.text;
    else if (key === 'database') text = config.database.kind === 'sqlite' ? config.database.path : redactUrl(config.database.url);
    else text = Array.isArray(v) ? v.join(',') : redactUrl(String(v));
    out[setting.env] = text;
  }
  return out;
}
