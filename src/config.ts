// The one place that reads the environment: every setting with its parser, default and help, then the parse that
// checks them all at once.
import type { CronPattern } from './time/cron-pattern.ts';
import { timeZoneProblem } from './config/time-zone.ts';
import { CANDLE_SETTINGS, scheduleOf, type CandleValues, type Schedule } from './config/candle-settings.ts';
import type { LogFormat, LogLevel } from './log/logger.ts';
import { createRedactor, redactUrl, redactUrlValue } from './log/redact.ts';
import { describeGuardSetting, exchangeQuerySecrets, GUARD_SETTINGS, guardSettingsProblem, type GuardValues } from './config/guard-settings.ts';
import { CLOCK_SETTINGS, clockSettingsProblem, describeClockSetting, timeQuerySecrets, type ClockValues } from './config/clock-settings.ts';
import type { DatabaseTarget } from './store/port.ts';
import { integer, boolean, oneOf, httpUrl, requiredUrl, symbols, token, database, optionalInteger, webhookUrls, ntpServer, replicaId, optionalFile, botToken, botApiUrl, chatId, type Setting } from './config/parsers.ts';

export type { DatabaseTarget };

/** What the SETTINGS table fills, one field per environment variable. */
interface SettingValues extends GuardValues, CandleValues, ClockValues {
  /** Without the user and password it may have been given with (they are in `diegoBasicAuth`). */
  diegoUrl: string;
  enableScheduler: boolean;
  retryAttempts: number;
  retryDelayMs: number;
  runOnStart: boolean;
  symbols: string[];
  triggerExecution: boolean;
  diegoTimeoutMs: number;
  diegoToken: string | undefined;
  /** Without the user and password it may have been given with (they are in `miguelBasicAuth`). */
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
  /** Webhooks that receive notifications (Slack, Mattermost, Discord or any JSON receiver); empty: none. */
  alertWebhookUrls: string[];
  /** A Healthchecks.io check's ping URL (`/start`, success, `/fail` per cycle); undefined: off. */
  healthcheckPingUrl: string | undefined;
  /** A Telegram bot's token (notify/telegram.ts); undefined: no Telegram channel. */
  telegramBotToken: string | undefined;
  /** The chat the bot posts to: a numeric id or a channel's @name. */
  telegramChatId: string | undefined;
  /** The Bot API's base URL (a local Bot API server, or a test's fake). */
  telegramApiUrl: string;
  /** `failing` is notified after this many failed cycles of a symbol in a row. */
  alertAfterFailures: number;
  /** SNTP server checked at start and every `clockCheckIntervalMs`; undefined: no clock check. */
  ntpServer: { host: string; port: number } | undefined;
  clockCheckIntervalMs: number;
  /** Above this offset: a `clock_skew` warning and notification. */
  clockSkewWarnMs: number;
  /** Above this offset the agent fires nothing (slots recorded skipped, reason `clock_skew`); undefined: never. */
  clockSkewMaxMs: number | undefined;
}

/** The agent's whole configuration, parsed and validated once at start-up. */
export interface Config extends Omit<SettingValues, 'cron'> {
  /** Every job's slots: CRON_PATTERN when set, else the union of the jobs' candle closes (config/candle-settings.ts). */
  cron: CronPattern;
  /** The jobs' schedules: each symbol × timeframe of `schedule.timeframes` is a job. */
  schedule: Schedule;
  /**
   * `Authorization: Basic …` built from DIEGO_URL's `user:password@` (a reverse proxy's login): Node's fetch refuses
   * a URL that holds credentials, so they travel as this header instead. Undefined: none in the URL.
   */
  diegoBasicAuth: string | undefined;
  /** The same from MIGUEL_URL, for its readiness probe. */
  miguelBasicAuth: string | undefined;
  /** The Telegram channel, when TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are both set. */
  telegram: { token: string; chatId: string; apiUrl: string } | undefined;
}

/** One invalid setting: enough to print a single line that names it. */
export interface ConfigProblem {
  setting: string;
  value: string;
  expected: string;
}

/** Every setting, its environment variable, default and parser; `run --flag-name` mirrors each one. */
export const SETTINGS: { [K in keyof SettingValues]: Setting<SettingValues[K]> } = {
  diegoUrl: { env: 'DIEGO_URL', default: 'http://diego:3001', parse: requiredUrl, help: "Diego's base URL" },
  cron: CANDLE_SETTINGS.cron,
  enableScheduler: { env: 'ENABLE_SCHEDULER', default: 'true', parse: boolean, help: 'false: make no call, stay up idle until a signal' },
  retryAttempts: { env: 'RETRY_ATTEMPTS', default: '3', parse: integer(1, 100), help: 'attempts in all per cycle' },
  retryDelayMs: { env: 'RETRY_DELAY_MS', default: '5000', parse: integer(0), help: 'delay between attempts' },
  runOnStart: { env: 'RUN_ON_START', default: 'true', parse: boolean, help: 'run one cycle right after start-up' },
  symbols: { env: 'SYMBOLS', default: 'BTC/USDT', parse: symbols, help: 'comma-separated; one request per symbol per cycle' },
  timeframe: CANDLE_SETTINGS.timeframe,
  timeframes: CANDLE_SETTINGS.timeframes,
  candleOffsetMs: CANDLE_SETTINGS.candleOffsetMs,
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
  alertWebhookUrls: { env: 'ALERT_WEBHOOK_URL', default: '', parse: webhookUrls, help: 'webhook URL(s), comma-separated, that receive notifications; never logged', secret: true },
  healthcheckPingUrl: { env: 'HEALTHCHECK_PING_URL', default: '', parse: httpUrl(true), help: 'Healthchecks.io ping URL: /start, success and /fail per cycle; never logged', secret: true },
  telegramBotToken: { env: 'TELEGRAM_BOT_TOKEN', default: '', parse: botToken, help: 'a Telegram bot token: notifications go to TELEGRAM_CHAT_ID too; never logged', secret: true },
  telegramChatId: { env: 'TELEGRAM_CHAT_ID', default: '', parse: chatId, help: 'the chat the Telegram bot posts to (numeric id or @channel)' },
  telegramApiUrl: { env: 'TELEGRAM_API_URL', default: 'https://api.telegram.org', parse: botApiUrl, help: "the Telegram Bot API's base URL (a local Bot API server)" },
  alertAfterFailures: { env: 'ALERT_AFTER_FAILURES', default: '3', parse: integer(1, 1000), help: 'notify `failing` after this many failed cycles of a symbol in a row' },
  ntpServer: { env: 'NTP_SERVER', default: '', parse: ntpServer, help: 'SNTP server (host[:port]) the clock is checked against; unset: no check' },
  clockCheckIntervalMs: { env: 'CLOCK_CHECK_INTERVAL_MS', default: '600000', parse: integer(1000), help: 'how often the clock is checked' },
  clockSkewWarnMs: { env: 'CLOCK_SKEW_WARN_MS', default: '250', parse: integer(1, 3_600_000), help: 'a clock offset above this is a clock_skew warning and notification' },
  clockSkewMaxMs: { env: 'CLOCK_SKEW_MAX_MS', default: '', parse: optionalInteger(1, 3_600_000), help: 'above this offset no slot fires (skipped, reason clock_skew); unset: never' },
  ...CLOCK_SETTINGS,
  ...GUARD_SETTINGS,
};

/** `DIEGO_URL` → `diego-url`: the `run` flag that overrides an environment variable. */
export function flagName(env: string): string {
  return env.toLowerCase().replaceAll('_', '-');
}

/** Shows a value in an error or log line without leaking a secret. */
function shown(setting: Setting<unknown>, raw: string): string {
  if (setting.secret) return raw === '' ? '' : '[redacted]';
  if (setting.shownAs) return setting.shownAs(raw);
  return redactUrlValue(raw);
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
  const names: Record<string, string> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof SettingValues, Setting<unknown>][]) {
    const flag = flagName(setting.env);
    const fromFlag = flags[flag];
    const fromEnv = env[setting.env];
    const emptyMeansSomething = setting.default === '' || key === 'miguelUrl';
    let raw: string;
    let name: string;
    if (fromFlag !== undefined) [raw, name] = [fromFlag, `--${flag}`];
    else if (fromEnv !== undefined && (fromEnv !== '' || emptyMeansSomething)) [raw, name] = [fromEnv, setting.env];
    else [raw, name] = [setting.default, setting.env];
    names[key] = name;
    const parsed = setting.parse(raw.trim());
    if ('value' in parsed) out[key] = parsed.value;
    else problems.push({ setting: name, value: shown(setting, raw), expected: parsed.expected });
  }
  const zone = timeZoneProblem(env.TZ);
  if (zone) problems.push(zone);
  if (problems.length > 0) return { problems };
  const values = out as unknown as SettingValues;
  // A ceiling below the warning would stop firing on an offset that was never even warned about.
  if (values.clockSkewMaxMs !== undefined && values.clockSkewMaxMs < values.clockSkewWarnMs) {
    return { problems: [{ setting: names.clockSkewMaxMs!, value: String(values.clockSkewMaxMs), expected: `at least ${names.clockSkewWarnMs} (${values.clockSkewWarnMs}): above it no slot fires, so it cannot be below the warning` }] };
  }
  const diego = splitCredentials(values.diegoUrl);
  const miguel = values.miguelUrl === undefined ? { url: undefined, basicAuth: undefined } : splitCredentials(values.miguelUrl);
  // Diego takes one Authorization header: rather than pick one of two credentials silently, refuse the pair.
  const guardProblem = guardSettingsProblem(values, names) ?? clockSettingsProblem(values, names);
  if (guardProblem) return { problems: [guardProblem] };
  const scheduled = scheduleOf(values, names);
  if ('problem' in scheduled) return { problems: [scheduled.problem] };
  if (diego.basicAuth !== undefined && values.diegoToken !== undefined) {
    return { problems: [{ setting: names.diegoToken!, value: '[redacted]', expected: `unset when ${names.diegoUrl} holds user:password (sent as Basic auth): Diego takes one Authorization header` }] };
  }
  // A token without a chat (or the reverse) would send nothing: refuse it rather than stay silent.
  if ((values.telegramBotToken === undefined) !== (values.telegramChatId === undefined)) {
    const [missing, given] = values.telegramBotToken === undefined ? ['TELEGRAM_BOT_TOKEN', names.telegramChatId!] : ['TELEGRAM_CHAT_ID', names.telegramBotToken!];
    return { problems: [{ setting: missing, value: '', expected: `set together with ${given}: a Telegram bot needs its token and a chat` }] };
  }
  const telegram = values.telegramBotToken && values.telegramChatId ? { token: values.telegramBotToken, chatId: values.telegramChatId, apiUrl: values.telegramApiUrl } : undefined;
  // The single binary extracts its SQLite addon under $XDG_CACHE_HOME: the platform's variable, read here with the rest.
  const cacheHome = env.XDG_CACHE_HOME;
  const database = values.database.kind === 'sqlite' && cacheHome ? { ...values.database, cacheHome } : values.database;
  return { config: Object.freeze({ ...values, cron: scheduled.schedule.cron, schedule: scheduled.schedule, database, diegoUrl: diego.url, miguelUrl: miguel.url, diegoBasicAuth: diego.basicAuth, miguelBasicAuth: miguel.basicAuth, telegram }) };
}

/** `http://user:pw@host` → the URL without them and `Basic dXNlcjpwdw==` (percent-escapes decoded first). */
function splitCredentials(href: string): { url: string; basicAuth: string | undefined } {
  const url = new URL(href);
  if (url.username === '' && url.password === '') return { url: href, basicAuth: undefined };
  const pair = `${decoded(url.username)}:${decoded(url.password)}`;
  url.username = '';
  url.password = '';
  return { url: url.href.replace(/\/+$/, ''), basicAuth: `Basic ${Buffer.from(pair, 'utf8').toString('base64')}` };
}

/** A percent-decoded URL part; one with a stray `%` is taken as it was typed. */
function decoded(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/**
 * The one redactor of a configuration: every log line, stored error and notification of the agent and the commands
 * goes through it (its secrets are secretsOf's, its URLs urlsOf's).
 */
export function redactorOf(config: Config): (text: string) => string {
  return createRedactor(secretsOf(config), urlsOf(config));
}

/** The configured URLs that may hold a password, for the redactor (createRedactor's `urls`). */
export function urlsOf(config: Config): string[] {
  return config.database.kind === 'postgres' ? [config.database.url] : [];
}

/**
 * Every secret the configuration holds, for the redactor of log lines and stored errors: the token and the encoded
 * Basic credentials (the URLs that held them were stripped at parse time, so they are printed nowhere).
 */
export function secretsOf(config: Config): string[] {
  const basic = [config.diegoBasicAuth, config.miguelBasicAuth].map((h) => h?.slice('Basic '.length));
  // Webhook and ping URLs carry their token in the path (Slack's do): the whole URL is the secret.
  const hooks = [...config.alertWebhookUrls, config.healthcheckPingUrl];
  return [config.diegoToken, ...basic, ...hooks, config.telegramBotToken, ...exchangeQuerySecrets(config), ...timeQuerySecrets(config)].filter((s): s is string => s !== undefined && s !== '');
}

/** One line for one problem: the setting, its value, what is expected. */
export function formatProblem(p: ConfigProblem): string {
  return `Invalid ${p.setting}=${JSON.stringify(p.value)}: expected ${p.expected}`;
}

/** The effective configuration as loggable text, secrets redacted. */
export function describeConfig(config: Config): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, setting] of Object.entries(SETTINGS) as [keyof SettingValues, Setting<unknown>][]) {
    const v = config[key];
    let text: string;
    if (setting.secret) text = v === undefined || (Array.isArray(v) && v.length === 0) ? '(unset)' : '[redacted]';
    else if (v === undefined && !(key in CLOCK_SETTINGS)) text = key === 'replicaId' ? '(host:pid)' : key === 'timeframe' || key === 'timeframes' ? '(unset)' : '(disabled)';
    else if (key === 'cron') text = config.schedule.fromCronPattern ? config.cron.text : `(unset: each job at its candle close, ${config.cron.text})`;
    else if (key in GUARD_SETTINGS) text = describeGuardSetting(key as keyof GuardValues, config);
    else if (key in CLOCK_SETTINGS) text = describeClockSetting(key as keyof ClockValues, config);
    else if (key === 'ntpServer') text = `${config.ntpServer!.host}:${config.ntpServer!.port}`;
    else if (key === 'database') text = config.database.kind === 'sqlite' ? config.database.path : redactUrlValue(config.database.url);
    else text = Array.isArray(v) ? v.join(',') : redactUrl(String(v));
    if ((key === 'diegoUrl' && config.diegoBasicAuth) || (key === 'miguelUrl' && config.miguelBasicAuth)) text += ' (Basic auth from the URL)';
    out[setting.env] = text;
  }
  return out;
}

/**
 * Whether systemd asks for notifications (NOTIFY_SOCKET, set by a `Type=notify` service): the agent then says
 * READY=1, feeds the watchdog with every heartbeat, and says STOPPING=1 (agent/upkeep/systemd-notify.ts).
 */
export function systemdNotifySocket(env: Record<string, string | undefined>): string | undefined {
  return env.NOTIFY_SOCKET || undefined;
}

/**
 * Whether output may be coloured: a terminal, unless NO_COLOR is set to anything (https://no-color.org) or the
 * terminal says it cannot (`TERM=dumb`).
 */
export function colorsWanted(env: Record<string, string | undefined>, isTTY: boolean): boolean {
  return isTTY && !env.NO_COLOR && env.TERM !== 'dumb';
}
