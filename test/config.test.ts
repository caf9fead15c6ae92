import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SETTINGS, describeConfig, flagName, secretsOf, formatProblem, parseConfig, type Config, type ConfigProblem } from '../src/config.ts';

// cron-schedule works in local time; this file runs in its own process, so fixing TZ here affects nothing else.
process.env.TZ = 'UTC';

type Env = Record<string, string | undefined>;

function valid(env: Env, flags?: Record<string, string>): Config {
  const r = parseConfig(env, flags);
  if ('problems' in r) assert.fail(`unexpected problems: ${r.problems.map(formatProblem).join('; ')}`);
  return r.config;
}

function problemsOf(env: Env, flags?: Record<string, string>): ConfigProblem[] {
  const r = parseConfig(env, flags);
  assert.ok('problems' in r, `expected a problem for ${JSON.stringify({ env, flags })}`);
  return r.problems;
}

function onlyProblem(env: Env, flags?: Record<string, string>): ConfigProblem {
  const problems = problemsOf(env, flags);
  assert.equal(problems.length, 1, problems.map(formatProblem).join('; '));
  return problems[0]!;
}

/**
 * The settings but the pattern object, which is compared through its text and its answers, and without the
 * credentials derived from the URLs (tested on their own below).
 */
function plain(config: Config): Record<string, unknown> {
  const { cron, schedule: _s, diegoBasicAuth: _d, miguelBasicAuth: _m, telegram: _t, executionBlackout, ...rest } = config;
  return { ...rest, cron: cron.text, executionBlackout: executionBlackout.map((w) => w.text) };
}

const DEFAULTS = {
  diegoUrl: 'http://diego:3001',
  cron: '0 * * * * *',
  enableScheduler: true,
  retryAttempts: 3,
  retryDelayMs: 5000,
  runOnStart: true,
  symbols: ['BTC/USDT'],
  timeframe: undefined,
  timeframes: undefined,
  candleOffsetMs: 0,
  triggerExecution: true,
  diegoTimeoutMs: 20000,
  diegoToken: undefined,
  miguelUrl: 'http://miguel:3002',
  waitForReady: true,
  readyTimeoutMs: 0,
  database: { kind: 'sqlite', path: './data/pmf-scheduler.db' },
  replicaId: undefined,
  statsIntervalMs: 600000,
  shutdownGraceMs: 8000,
  maxResponseBytes: 1048576,
  historyRetentionDays: 90,
  metricsFile: undefined,
  logFormat: 'pretty',
  logLevel: 'info',
  alertWebhookUrls: [],
  healthcheckPingUrl: undefined,
  telegramBotToken: undefined,
  telegramChatId: undefined,
  telegramApiUrl: 'https://api.telegram.org',
  alertAfterFailures: 3,
  ntpServer: undefined,
  clockCheckIntervalMs: 600000,
  clockSkewWarnMs: 250,
  clockSkewMaxMs: undefined,
  maxOrdersPerHour: undefined,
  maxOrdersPerHourPerSymbol: undefined,
  executionOffAfterFailures: undefined,
  exchangeStatusUrl: undefined,
  exchangeStatusIntervalMs: 30000,
  exchangeStatusField: ['status'],
  exchangeStatusOk: '0',
  exchangeStatusFailClosed: false,
  executionBlackout: [],
  exchangeTimeUrl: undefined,
  exchangeTimeField: ['serverTime'],
  fireClock: 'local',
  maxLatenessMs: undefined,
};

const ALL_ENV = Object.values(SETTINGS).map((s) => s.env);
const SETTINGS_BY_ENV = Object.fromEntries(Object.values(SETTINGS).map((s) => [s.env, s as { secret?: boolean }]));

test('with no environment every setting takes its documented default', () => {
  const config = valid({});
  assert.deepEqual(plain(config), DEFAULTS);
  assert.ok(Object.isFrozen(config));
  assert.equal(config.cron.next(Date.parse('2024-01-20T10:00:00.500Z')), Date.parse('2024-01-20T10:01:00Z'));
});

test('the defaults table covers every setting, and each setting has its own flag', () => {
  assert.deepEqual(Object.keys(SETTINGS).sort(), Object.keys(DEFAULTS).sort());
  assert.equal(flagName('DIEGO_URL'), 'diego-url');
  assert.equal(flagName('MAX_RESPONSE_BYTES'), 'max-response-bytes');
  assert.equal(new Set(ALL_ENV.map(flagName)).size, ALL_ENV.length);
});

test('unrelated environment variables are ignored', () => {
  assert.deepEqual(plain(valid({ PATH: '/usr/bin', HOME: '/root', CRON: 'garbage', diego_url: 'ftp://x' })), DEFAULTS);
});

const BOT_TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';
// Settings that are given in pairs: the other half, which the test below sets too.
const COMPANION: Record<string, Env> = {
  TELEGRAM_BOT_TOKEN: { TELEGRAM_CHAT_ID: '-100123' },
  TELEGRAM_CHAT_ID: { TELEGRAM_BOT_TOKEN: BOT_TOKEN },
  // Fail-closed needs an endpoint to fail closed on.
  EXCHANGE_STATUS_FAIL_CLOSED: { EXCHANGE_STATUS_URL: 'https://api.binance.com/sapi/v1/system/status' },
  // The exchange's clock is read from its time endpoint.
  FIRE_CLOCK: { EXCHANGE_TIME_URL: 'https://api.binance.com/api/v3/time' },
};

// One valid, non-default value for every setting, with what it parses to.
const CUSTOM: [env: string, raw: string, key: keyof Config, parsed: unknown][] = [
  ['DIEGO_URL', 'https://diego.internal:8443/api/', 'diegoUrl', 'https://diego.internal:8443/api'],
  ['CRON_PATTERN', '*/5 * * * * *', 'cron', '*/5 * * * * *'],
  ['ENABLE_SCHEDULER', 'false', 'enableScheduler', false],
  ['RETRY_ATTEMPTS', '5', 'retryAttempts', 5],
  ['RETRY_DELAY_MS', '0', 'retryDelayMs', 0],
  ['RUN_ON_START', 'no', 'runOnStart', false],
  ['SYMBOLS', 'BTC/USDT, ETH/USDT,SOL/USDC', 'symbols', ['BTC/USDT', 'ETH/USDT', 'SOL/USDC']],
  ['TIMEFRAME', '15m', 'timeframe', '15m'],
  ['TIMEFRAMES', '5m, 1m,1h', 'timeframes', ['1m', '5m', '1h']],
  ['CANDLE_OFFSET_MS', '1500', 'candleOffsetMs', 1500],
  ['TRIGGER_EXECUTION', '0', 'triggerExecution', false],
  ['DIEGO_TIMEOUT_MS', '1500', 'diegoTimeoutMs', 1500],
  ['DIEGO_TOKEN', 'tok_live_Abc123', 'diegoToken', 'tok_live_Abc123'],
  ['MIGUEL_URL', 'http://127.0.0.1:9002', 'miguelUrl', 'http://127.0.0.1:9002'],
  ['WAIT_FOR_READY', 'NO', 'waitForReady', false],
  ['READY_TIMEOUT_MS', '30000', 'readyTimeoutMs', 30000],
  ['DATABASE_URL', '/var/lib/pmf/history.db', 'database', { kind: 'sqlite', path: '/var/lib/pmf/history.db' }],
  ['REPLICA_ID', 'scheduler-2', 'replicaId', 'scheduler-2'],
  ['STATS_INTERVAL_MS', '0', 'statsIntervalMs', 0],
  ['SHUTDOWN_GRACE_MS', '2147483647', 'shutdownGraceMs', 2147483647],
  ['MAX_RESPONSE_BYTES', '1024', 'maxResponseBytes', 1024],
  ['HISTORY_RETENTION_DAYS', '30', 'historyRetentionDays', 30],
  ['METRICS_FILE', '/var/lib/node_exporter/pmf-scheduler.prom', 'metricsFile', '/var/lib/node_exporter/pmf-scheduler.prom'],
  ['LOG_FORMAT', 'json', 'logFormat', 'json'],
  ['LOG_LEVEL', 'debug', 'logLevel', 'debug'],
  ['ALERT_WEBHOOK_URL', 'https://hooks.slack.com/services/T0/B0/secretXYZ, http://127.0.0.1:9/hook', 'alertWebhookUrls', ['https://hooks.slack.com/services/T0/B0/secretXYZ', 'http://127.0.0.1:9/hook']],
  ['HEALTHCHECK_PING_URL', 'https://hc-ping.com/0b7d2d3c-1111-2222-3333-444455556666', 'healthcheckPingUrl', 'https://hc-ping.com/0b7d2d3c-1111-2222-3333-444455556666'],
  ['TELEGRAM_BOT_TOKEN', BOT_TOKEN, 'telegramBotToken', BOT_TOKEN],
  ['TELEGRAM_CHAT_ID', '@desk_alerts', 'telegramChatId', '@desk_alerts'],
  ['TELEGRAM_API_URL', 'http://127.0.0.1:8081/', 'telegramApiUrl', 'http://127.0.0.1:8081'],
  ['ALERT_AFTER_FAILURES', '5', 'alertAfterFailures', 5],
  ['NTP_SERVER', 'pool.ntp.org', 'ntpServer', { host: 'pool.ntp.org', port: 123 }],
  ['CLOCK_CHECK_INTERVAL_MS', '60000', 'clockCheckIntervalMs', 60000],
  ['CLOCK_SKEW_WARN_MS', '100', 'clockSkewWarnMs', 100],
  ['CLOCK_SKEW_MAX_MS', '1000', 'clockSkewMaxMs', 1000],
  ['MAX_ORDERS_PER_HOUR', '20', 'maxOrdersPerHour', 20],
  ['MAX_ORDERS_PER_HOUR_PER_SYMBOL', '5', 'maxOrdersPerHourPerSymbol', 5],
  ['EXECUTION_OFF_AFTER_FAILURES', '4', 'executionOffAfterFailures', 4],
  ['EXCHANGE_STATUS_URL', 'https://api.binance.com/sapi/v1/system/status', 'exchangeStatusUrl', 'https://api.binance.com/sapi/v1/system/status'],
  ['EXCHANGE_STATUS_INTERVAL_MS', '10000', 'exchangeStatusIntervalMs', 10000],
  ['EXCHANGE_STATUS_FIELD', '/data/0/a~1b', 'exchangeStatusField', ['data', '0', 'a/b']],
  ['EXCHANGE_STATUS_OK', 'ok', 'exchangeStatusOk', 'ok'],
  ['EXCHANGE_STATUS_FAIL_CLOSED', 'true', 'exchangeStatusFailClosed', true],
  ['EXECUTION_BLACKOUT', '0 55 7 * * 1-5 10m; 0 0 0 * * 0 30m', 'executionBlackout', ['0 55 7 * * 1-5 10m', '0 0 0 * * 0 30m']],
  ['EXCHANGE_TIME_URL', 'https://api.binance.com/api/v3/time', 'exchangeTimeUrl', 'https://api.binance.com/api/v3/time'],
  ['EXCHANGE_TIME_FIELD', '/result/unixtime', 'exchangeTimeField', ['result', 'unixtime']],
  ['FIRE_CLOCK', 'Exchange', 'fireClock', 'exchange'],
  ['MAX_LATENESS_MS', '750', 'maxLatenessMs', 750],
];

// Settings the jobs' schedule (`cron`) is derived from (config/candle-settings.ts).
const MOVES_SCHEDULE = ['TIMEFRAME', 'TIMEFRAMES', 'CANDLE_OFFSET_MS'];
// Settings that cannot be given with all the others: TIMEFRAME with TIMEFRAMES, a CANDLE_OFFSET_MS with CRON_PATTERN.
const EXCLUSIVE = ['TIMEFRAME', 'CANDLE_OFFSET_MS'];

const parsedValue = (config: Config, key: keyof Config) => (key === 'cron' ? config.cron.text : key === 'executionBlackout' ? config.executionBlackout.map((w) => w.text) : config[key]);

test('every setting is read from its environment variable', async (t) => {
  assert.deepEqual(CUSTOM.map((c) => c[0]).sort(), [...ALL_ENV].sort(), 'one case per setting');
  for (const [env, raw, key, parsed] of CUSTOM) {
    await t.test(`${env}=${raw}`, () => {
      const companion = COMPANION[env] ?? {};
      const config = valid({ [env]: raw, ...companion });
      assert.deepEqual(parsedValue(config, key), parsed);
      // Nothing else moved (but the other half of a pair).
      const others = Object.fromEntries(Object.keys(companion).map((e) => [CUSTOM.find((c) => c[0] === e)![2], undefined]));
      if (MOVES_SCHEDULE.includes(env)) others.cron = undefined; // the jobs' schedule is derived from them
      assert.deepEqual({ ...plain(config), [key]: undefined, ...others }, { ...DEFAULTS, [key]: undefined, ...others });
    });
  }
});

test('every setting is read from its flag, and the flag wins over the environment', async (t) => {
  const env = Object.fromEntries(CUSTOM.filter(([name]) => !EXCLUSIVE.includes(name)).map(([name, raw]) => [name, raw]));
  const flags: Record<string, string> = {
    'diego-url': 'http://10.0.0.5:3001',
    'cron-pattern': '0 0 * * * *',
    'enable-scheduler': 'yes',
    'retry-attempts': '7',
    'retry-delay-ms': '250',
    'run-on-start': 'TRUE',
    symbols: 'ETH/BTC',
    timeframe: '4h',
    timeframes: '30m,15m',
    'candle-offset-ms': '250',
    'trigger-execution': '1',
    'diego-timeout-ms': '999',
    'diego-token': 'flag-token-xyz',
    'miguel-url': 'http://miguel.flag:3002',
    'wait-for-ready': 'True',
    'ready-timeout-ms': '1',
    'database-url': 'file:./flag.db',
    'replica-id': 'flag-replica',
    'stats-interval-ms': '60000',
    'shutdown-grace-ms': '1',
    'max-response-bytes': '2048',
    'history-retention-days': '0',
    'metrics-file': './flag.prom',
    'log-format': 'pretty',
    'log-level': 'error',
    'alert-webhook-url': 'http://10.0.0.7/hook',
    'healthcheck-ping-url': 'http://hc.flag/ping/abc',
    'telegram-bot-token': '42:flagflagflagflagflagflagflag',
    'telegram-chat-id': '-42',
    'telegram-api-url': 'http://tg.flag',
    'alert-after-failures': '2',
    'ntp-server': '[::1]:1123',
    'clock-check-interval-ms': '5000',
    'clock-skew-warn-ms': '50',
    'clock-skew-max-ms': '2000',
    'max-orders-per-hour': '7',
    'max-orders-per-hour-per-symbol': '3',
    'execution-off-after-failures': '9',
    'exchange-status-url': 'http://127.0.0.1:9/status?key=flagkey123',
    'exchange-status-interval-ms': '1000',
    'exchange-status-field': '/state',
    'exchange-status-ok': 'normal',
    'exchange-status-fail-closed': 'no',
    'execution-blackout': '*/10 * * * * * 3s',
    'exchange-time-url': 'http://127.0.0.1:9/time',
    'exchange-time-field': '/t',
    'fire-clock': 'local',
    'max-lateness-ms': '40',
  };
  assert.deepEqual(Object.keys(flags).sort(), ALL_ENV.map(flagName).sort(), 'one flag per setting');
  const exclusive = EXCLUSIVE.map(flagName);
  const fromEnv = valid(env);
  const config = valid(env, Object.fromEntries(Object.entries(flags).filter(([f]) => !exclusive.includes(f))));
  const expected: Record<string, unknown> = {
    diegoUrl: 'http://10.0.0.5:3001',
    cron: '0 0 * * * *',
    enableScheduler: true,
    retryAttempts: 7,
    retryDelayMs: 250,
    runOnStart: true,
    symbols: ['ETH/BTC'],
    timeframe: '4h',
    timeframes: ['15m', '30m'],
    candleOffsetMs: 250,
    triggerExecution: true,
    diegoTimeoutMs: 999,
    diegoToken: 'flag-token-xyz',
    miguelUrl: 'http://miguel.flag:3002',
    waitForReady: true,
    readyTimeoutMs: 1,
    database: { kind: 'sqlite', path: './flag.db' },
    replicaId: 'flag-replica',
    statsIntervalMs: 60000,
    shutdownGraceMs: 1,
    maxResponseBytes: 2048,
    historyRetentionDays: 0,
    metricsFile: './flag.prom',
    logFormat: 'pretty',
    logLevel: 'error',
    alertWebhookUrls: ['http://10.0.0.7/hook'],
    healthcheckPingUrl: 'http://hc.flag/ping/abc',
    telegramBotToken: '42:flagflagflagflagflagflagflag',
    telegramChatId: '-42',
    telegramApiUrl: 'http://tg.flag',
    alertAfterFailures: 2,
    ntpServer: { host: '::1', port: 1123 },
    clockCheckIntervalMs: 5000,
    clockSkewWarnMs: 50,
    clockSkewMaxMs: 2000,
    maxOrdersPerHour: 7,
    maxOrdersPerHourPerSymbol: 3,
    executionOffAfterFailures: 9,
    exchangeStatusUrl: 'http://127.0.0.1:9/status?key=flagkey123',
    exchangeStatusIntervalMs: 1000,
    exchangeStatusField: ['state'],
    exchangeStatusOk: 'normal',
    exchangeStatusFailClosed: false,
    executionBlackout: ['*/10 * * * * * 3s'],
    exchangeTimeUrl: 'http://127.0.0.1:9/time',
    exchangeTimeField: ['t'],
    fireClock: 'local',
    maxLatenessMs: 40,
  };
  // The exclusive ones, each alone over its own environment value (CRON_PATTERN unset for the offset).
  for (const name of EXCLUSIVE) {
    const key = CUSTOM.find((c) => c[0] === name)![2];
    const raw = CUSTOM.find((c) => c[0] === name)![1];
    assert.notDeepEqual(valid({ [name]: raw })[key], expected[key], `${name}: the environment alone gives another value`);
    assert.deepEqual(valid({ [name]: raw }, { [flagName(name)]: flags[flagName(name)]! })[key], expected[key], `--${flagName(name)}`);
  }
  for (const key of Object.keys(SETTINGS) as (keyof typeof SETTINGS)[]) {
    if (EXCLUSIVE.includes(SETTINGS[key].env)) continue;
    await t.test(`--${flagName(SETTINGS[key].env)}`, () => {
      assert.notDeepEqual(parsedValue(fromEnv, key), expected[key], 'the environment alone gives another value');
      assert.deepEqual(parsedValue(config, key), expected[key]);
    });
  }
});

test('booleans accept true/false, 1/0 and yes/no in any case', async (t) => {
  const spellings: [string, boolean][] = [
    ['true', true], ['TRUE', true], ['True', true], ['1', true], ['yes', true], ['YES', true], ['Yes', true], [' yes ', true],
    ['false', false], ['FALSE', false], ['False', false], ['0', false], ['no', false], ['NO', false], ['nO', false],
  ];
  const booleans: [string, keyof Config][] = [
    ['ENABLE_SCHEDULER', 'enableScheduler'],
    ['RUN_ON_START', 'runOnStart'],
    ['TRIGGER_EXECUTION', 'triggerExecution'],
    ['WAIT_FOR_READY', 'waitForReady'],
  ];
  for (const [env, key] of booleans) {
    await t.test(env, () => {
      for (const [raw, value] of spellings) {
        assert.equal(valid({ [env]: raw })[key], value, `${env}=${JSON.stringify(raw)}`);
        assert.equal(valid({}, { [flagName(env)]: raw })[key], value, `--${flagName(env)} ${JSON.stringify(raw)}`);
      }
    });
  }
});

test('an empty variable means the default, except MIGUEL_URL (disables the wait) and DIEGO_TOKEN (no token)', () => {
  // METRICS_FILE is off by default, so empty and unset agree there.
  const allEmpty = Object.fromEntries(ALL_ENV.map((name) => [name, '']));
  assert.deepEqual(plain(valid(allEmpty)), { ...DEFAULTS, miguelUrl: undefined, diegoToken: undefined });
  assert.equal(valid({ MIGUEL_URL: '' }).miguelUrl, undefined);
  assert.equal(valid({ DIEGO_TOKEN: '' }).diegoToken, undefined);
  assert.equal(valid({ DIEGO_URL: '' }).diegoUrl, 'http://diego:3001');
  assert.equal(valid({ RETRY_ATTEMPTS: '' }).retryAttempts, 3);
  assert.equal(valid({ CRON_PATTERN: '' }).cron.text, '0 * * * * *');
});

test('an empty flag disables MIGUEL_URL and DIEGO_TOKEN even when the environment sets them', () => {
  const config = valid({ MIGUEL_URL: 'http://miguel:3002', DIEGO_TOKEN: 'env-token-1' }, { 'miguel-url': '', 'diego-token': '' });
  assert.equal(config.miguelUrl, undefined);
  assert.equal(config.diegoToken, undefined);
});

test('an explicitly empty flag for a required setting is a problem, not the default', () => {
  assert.deepEqual(onlyProblem({}, { 'diego-url': '' }), { setting: '--diego-url', value: '', expected: 'an http(s) URL such as http://diego:3001' });
  assert.equal(onlyProblem({}, { 'retry-attempts': '' }).setting, '--retry-attempts');
});

test('values are trimmed before parsing', () => {
  const config = valid({ RETRY_ATTEMPTS: ' 4 ', CRON_PATTERN: '  */2 * * * * * ', LOG_LEVEL: 'warn\n', DIEGO_URL: ' http://diego:3001/ ' });
  assert.equal(config.retryAttempts, 4);
  assert.equal(config.cron.text, '*/2 * * * * *');
  assert.equal(config.logLevel, 'warn');
  assert.equal(config.diegoUrl, 'http://diego:3001');
});

test('6-field patterns have seconds first; 5-field patterns start with minutes and fire at second 0', () => {
  const at = Date.parse('2024-01-20T10:00:00.000Z');
  const six = valid({ CRON_PATTERN: '*/30 * * * * *' }).cron;
  assert.equal(six.next(at), Date.parse('2024-01-20T10:00:30Z'));
  const five = valid({ CRON_PATTERN: '*/30 * * * *' }).cron;
  assert.equal(five.next(at), Date.parse('2024-01-20T10:30:00Z'));
  assert.equal(valid({ CRON_PATTERN: '0 9 * * 1-5' }).cron.next(at), Date.parse('2024-01-22T09:00:00Z')); // the 20th is a Saturday
});

test('URLs lose their trailing slashes and keep their path', () => {
  assert.equal(valid({ DIEGO_URL: 'http://diego:3001/' }).diegoUrl, 'http://diego:3001');
  assert.equal(valid({ DIEGO_URL: 'http://diego:3001/v1//' }).diegoUrl, 'http://diego:3001/v1');
  assert.equal(valid({ MIGUEL_URL: 'HTTPS://Miguel.Example:443/' }).miguelUrl, 'https://miguel.example');
});

test('DATABASE_URL takes a postgres:// or postgresql:// URL, kept as given; describeConfig hides its password', () => {
  const url = 'postgres://pmf:s3cret-pw@db.internal:5432/pmf?sslmode=require';
  assert.deepEqual(valid({ DATABASE_URL: url }).database, { kind: 'postgres', url });
  assert.deepEqual(valid({ DATABASE_URL: 'postgresql://db/pmf' }).database, { kind: 'postgres', url: 'postgresql://db/pmf' });
  assert.deepEqual(valid({ DATABASE_URL: 'postgres:///pmf?host=/run/postgresql' }).database, { kind: 'postgres', url: 'postgres:///pmf?host=/run/postgresql' });
  assert.equal(describeConfig(valid({ DATABASE_URL: url })).DATABASE_URL, 'postgres://pmf:***@db.internal:5432/pmf?sslmode=require');
});

test('DATABASE_URL takes a plain path or a sqlite:/file: URL', () => {
  assert.deepEqual(valid({ DATABASE_URL: 'sqlite:///tmp/a.db' }).database, { kind: 'sqlite', path: '/tmp/a.db' });
  assert.deepEqual(valid({ DATABASE_URL: 'sqlite:./a.db' }).database, { kind: 'sqlite', path: './a.db' });
  assert.deepEqual(valid({ DATABASE_URL: 'file:data/b.db' }).database, { kind: 'sqlite', path: 'data/b.db' });
  assert.deepEqual(valid({ DATABASE_URL: 'history.db' }).database, { kind: 'sqlite', path: 'history.db' });
});

test('DATABASE_URL with any other scheme:// (a typo such as postgress://) is a problem, shown with its password hidden', () => {
  for (const raw of ['postgress://u:secretpw@h/db', 'mysql://root:secretpw@db/pmf', 'http://h/x.db']) {
    const parsed = parseConfig({ DATABASE_URL: raw });
    assert.ok('problems' in parsed, raw);
    assert.equal(parsed.problems.length, 1);
    const line = formatProblem(parsed.problems[0]!);
    assert.match(line, /^Invalid DATABASE_URL=".*": expected a SQLite file path, a sqlite: or file: URL, or a postgres:\/\/ URL$/);
    assert.ok(!line.includes('secretpw'), line);
  }
});

test('TZ: unset, empty, IANA names, aliases and a leading ":" are taken; unknown names and the wrong case are one problem', () => {
  for (const tz of [undefined, '', 'UTC', 'Europe/Paris', ':Europe/Paris', 'US/Eastern', 'EST5EDT', 'Etc/GMT+5', 'America/Argentina/Buenos_Aires']) {
    assert.ok('config' in parseConfig({ TZ: tz }), String(tz));
  }
  for (const tz of ['Mars/Olympus', 'utc', 'europe/paris', 'UTC0', '/etc/localtime', 'Europe/Paris ']) {
    const parsed = parseConfig({ TZ: tz });
    assert.ok('problems' in parsed, tz);
    assert.deepEqual(parsed.problems.map((p) => [p.setting, p.value]), [['TZ', tz]]);
  }
});

const NUMERIC: [env: string, min: number, max: number][] = [
  ['CANDLE_OFFSET_MS', 0, 86_399_999],
  ['RETRY_ATTEMPTS', 1, 100],
  ['RETRY_DELAY_MS', 0, 2147483647],
  ['DIEGO_TIMEOUT_MS', 1, 2147483647],
  ['READY_TIMEOUT_MS', 0, 2147483647],
  ['STATS_INTERVAL_MS', 0, 2147483647],
  ['SHUTDOWN_GRACE_MS', 0, 2147483647],
  ['MAX_RESPONSE_BYTES', 1024, 268435456],
  ['HISTORY_RETENTION_DAYS', 0, 36500],
  ['ALERT_AFTER_FAILURES', 1, 1000],
  ['CLOCK_CHECK_INTERVAL_MS', 1000, 2147483647],
  ['CLOCK_SKEW_WARN_MS', 1, 3600000],
  ['CLOCK_SKEW_MAX_MS', 1, 3600000],
  ['MAX_LATENESS_MS', 1, 86400000],
  ['MAX_ORDERS_PER_HOUR', 1, 1000000],
  ['MAX_ORDERS_PER_HOUR_PER_SYMBOL', 1, 1000000],
  ['EXECUTION_OFF_AFTER_FAILURES', 1, 1000],
  ['EXCHANGE_STATUS_INTERVAL_MS', 1000, 3600000],
];

test('numbers accept exactly their bounds', async (t) => {
  for (const [env, min, max] of NUMERIC) {
    await t.test(env, () => {
      const key = (Object.keys(SETTINGS) as (keyof typeof SETTINGS)[]).find((k) => SETTINGS[k].env === env)!;
      assert.equal(valid({ [env]: String(min), ...(env === 'CLOCK_SKEW_MAX_MS' ? { CLOCK_SKEW_WARN_MS: '1' } : {}) }) /* the ceiling may not be below the warning */[key], min);
      // An offset that large fits only the longest candle (below the shortest timeframe: config/candle-settings.ts).
      assert.equal(valid({ [env]: String(max), ...(env === 'CANDLE_OFFSET_MS' ? { TIMEFRAMES: '1d' } : {}) })[key], max);
      assert.equal(onlyProblem({ [env]: String(max + 1) }).expected, `an integer from ${min} to ${max}`);
      if (min > 0) assert.equal(onlyProblem({ [env]: String(min - 1) }).expected, `an integer from ${min} to ${max}`);
    });
  }
});

// Every kind of invalid value for every setting: [variable, value, what the problem must say is expected].
const URL_EXPECTED = /^an http\(s\) URL such as http:\/\/diego:3001/;
const OPT_URL_EXPECTED = /^an http\(s\) URL, or empty to disable/;
const INVALID: [env: string, raw: string, expected: RegExp][] = [
  ['DIEGO_URL', 'diego:3001', URL_EXPECTED],
  ['DIEGO_URL', 'http://', URL_EXPECTED],
  ['DIEGO_URL', 'not a url', URL_EXPECTED],
  ['DIEGO_URL', 'ftp://diego:3001', URL_EXPECTED],
  ['DIEGO_URL', 'ws://diego:3001', URL_EXPECTED],
  ['DIEGO_URL', 'http://diego:3001/?x=1', /without query or fragment$/],
  ['DIEGO_URL', 'http://diego:3001/#frag', /without query or fragment$/],
  ['DIEGO_URL', 'http://diego:99999', URL_EXPECTED],
  ['CRON_PATTERN', 'every minute', /^a cron pattern with 5 or 6 fields/],
  ['CRON_PATTERN', '* * * *', /^a cron pattern with 5 or 6 fields .*expected 5 or 6 elements/],
  ['CRON_PATTERN', '* * * * * * *', /expected 5 or 6 elements/],
  ['CRON_PATTERN', '61 * * * * *', /61 is outside of constraint range of 0 - 59/],
  ['CRON_PATTERN', '*/0 * * * * *', /a cron pattern with 5 or 6 fields/],
  ['CRON_PATTERN', '0 0 31 9 *', /a pattern that never fires/],
  ['CRON_PATTERN', '0 0 0 30 2 *', /a pattern that never fires/],
  ['CRON_PATTERN', '0 0 L * *', /a cron pattern with 5 or 6 fields/],
  ['ENABLE_SCHEDULER', 'on', /^true\/false, 1\/0 or yes\/no$/],
  ['ENABLE_SCHEDULER', 'y', /^true\/false, 1\/0 or yes\/no$/],
  ['RUN_ON_START', '2', /^true\/false, 1\/0 or yes\/no$/],
  ['TRIGGER_EXECUTION', 'enabled', /^true\/false, 1\/0 or yes\/no$/],
  ['WAIT_FOR_READY', 'nope', /^true\/false, 1\/0 or yes\/no$/],
  ['RETRY_ATTEMPTS', '0', /^an integer from 1 to 100$/],
  ['SYMBOLS', 'BTC-USDT', /^a comma-separated list of pairs such as BTC\/USDT,ETH\/USDT, without duplicates$/],
  ['SYMBOLS', 'btc/usdt', /^a comma-separated list of pairs/],
  ['SYMBOLS', 'BTC/USDT,', /^a comma-separated list of pairs/],
  ['SYMBOLS', 'BTC/USDT,,ETH/USDT', /^a comma-separated list of pairs/],
  ['SYMBOLS', 'BTC/USDT,ETH/USDT,BTC/USDT', /without duplicates$/],
  ['SYMBOLS', 'BTC/USDT, BTC/USDT', /without duplicates$/],
  ['SYMBOLS', 'BTC/USDT;ETH/USDT', /^a comma-separated list of pairs/],
  ['TIMEFRAME', '1x', /^a timeframe: one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d \(candles closing at 00:00 UTC/],
  ['TIMEFRAME', '0m', /^a timeframe: one of/],
  ['TIMEFRAME', 'm', /^a timeframe: one of/],
  ['TIMEFRAME', '1.5h', /^a timeframe: one of/],
  ['TIMEFRAME', '1 m', /^a timeframe: one of/],
  ['TIMEFRAME', '7m', /^a timeframe: one of/],
  ['TIMEFRAME', '1M', /^a timeframe: one of/],
  ['TIMEFRAME', '1w', /^a timeframe: one of/],
  ['TIMEFRAMES', '1m,7m', /^comma-separated timeframes, each one of 1m, 3m, .* 1d .*without duplicates$/],
  ['TIMEFRAMES', '1m,5m,1m', /without duplicates$/],
  ['TIMEFRAMES', '1m,', /^comma-separated timeframes/],
  ['TIMEFRAMES', '1m;5m', /^comma-separated timeframes/],
  ['TIMEFRAMES', '1s', /^comma-separated timeframes/],
  ['TIMEFRAMES', '3d', /^comma-separated timeframes/],
  ['DIEGO_TOKEN', 'has a space', /^a token of at least 8 printable characters without spaces$/],
  ['DIEGO_TOKEN', 'tök€n', /^a token of at least 8 printable characters without spaces$/],
  ['DIEGO_TOKEN', 'short', /^a token of at least 8 printable characters without spaces$/],
  ['MIGUEL_URL', 'ftp://miguel:3002', OPT_URL_EXPECTED],
  ['MIGUEL_URL', 'miguel', OPT_URL_EXPECTED],
  ['MIGUEL_URL', 'http://miguel:3002/health?deep=1', /without query or fragment$/],
  ['DATABASE_URL', 'postgres://', /^a PostgreSQL URL such as postgres:\/\/user:password@host:5432\/database$/],
  ['DATABASE_URL', 'postgresql://db.internal:99999/pmf', /^a PostgreSQL URL such as/],
  ['DATABASE_URL', 'postgres://pmf@db:port/pmf', /^a PostgreSQL URL such as/],
  ['REPLICA_ID', 'replica one', /^up to 200 printable characters without spaces, unique to this replica$/],
  ['REPLICA_ID', 'r'.repeat(201), /^up to 200 printable characters/],
  ['DATABASE_URL', './data/', /^a SQLite file path such as \.\/data\/pmf-scheduler\.db$/],
  ['DATABASE_URL', 'sqlite://', /^a SQLite file path such as/],
  ['METRICS_FILE', '/var/lib/node_exporter/', /^a file path such as .*, or empty to disable$/],
  ['LOG_FORMAT', 'xml', /^one of pretty, json \(any case\)$/],
  ['LOG_FORMAT', 'JSONL', /^one of pretty, json \(any case\)$/],
  ['LOG_LEVEL', 'verbose', /^one of debug, info, warn, error \(any case\)$/],
  ['LOG_LEVEL', 'trace', /^one of debug, info, warn, error \(any case\)$/],
  ['ALERT_WEBHOOK_URL', 'hooks.slack.com/services/T0/B0/x', /^one or more http\(s\) URLs, comma-separated, without duplicates, credentials or fragment$/],
  ['ALERT_WEBHOOK_URL', 'http://a.example/h,http://a.example/h', /^one or more http\(s\) URLs/],
  ['ALERT_WEBHOOK_URL', 'http://user:pw@a.example/h', /^one or more http\(s\) URLs/],
  ['ALERT_WEBHOOK_URL', 'http://a.example/h#x', /^one or more http\(s\) URLs/],
  ['ALERT_WEBHOOK_URL', 'ftp://a.example/h', /^one or more http\(s\) URLs/],
  ['HEALTHCHECK_PING_URL', 'hc-ping.com/abc', OPT_URL_EXPECTED],
  ['TELEGRAM_BOT_TOKEN', 'AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw', /^a bot token from @BotFather such as 123456789:AAH…, or empty$/],
  ['TELEGRAM_BOT_TOKEN', '123:short', /^a bot token from @BotFather/],
  ['TELEGRAM_CHAT_ID', 'desk alerts', /^a chat id such as -1001234567890 or a channel name such as @desk_alerts, or empty$/],
  ['TELEGRAM_CHAT_ID', '12ab', /^a chat id such as/],
  ['TELEGRAM_API_URL', 'api.telegram.org', /^an http\(s\) URL such as https:\/\/api\.telegram\.org, without query or fragment$/],
  ['NTP_SERVER', 'pool.ntp.org:99999', /^an NTP server as host or host:port/],
  ['NTP_SERVER', 'udp://pool.ntp.org', /^an NTP server as host or host:port/],
  ['NTP_SERVER', 'pool ntp org', /^an NTP server as host or host:port/],
  ['MAX_ORDERS_PER_HOUR', '0', /^an integer from 1 to 1000000$/],
  ['MAX_ORDERS_PER_HOUR', 'ten', /^an integer from 1 to 1000000$/],
  ['MAX_ORDERS_PER_HOUR_PER_SYMBOL', '-1', /^an integer from 1 to 1000000$/],
  ['EXECUTION_OFF_AFTER_FAILURES', '0', /^an integer from 1 to 1000$/],
  ['EXECUTION_OFF_AFTER_FAILURES', '2.5', /^an integer from 1 to 1000$/],
  ['EXCHANGE_STATUS_URL', 'api.binance.com/sapi/v1/system/status', /^an http\(s\) URL such as https:\/\/api\.binance\.com/],
  ['EXCHANGE_STATUS_URL', 'ftp://exchange/status', /^an http\(s\) URL/],
  ['EXCHANGE_STATUS_URL', 'http://exchange/status#top', /without credentials or fragment/],
  ['EXCHANGE_STATUS_INTERVAL_MS', '999', /^an integer from 1000 to 3600000$/],
  ['EXCHANGE_STATUS_FIELD', 'status', /^a JSON pointer such as \/status/],
  ['EXCHANGE_STATUS_FIELD', '/a~2b', /^a JSON pointer/],
  ['EXCHANGE_STATUS_OK', 'ok\u0007', /^the value meaning normal/],
  ['EXCHANGE_STATUS_FAIL_CLOSED', 'sometimes', /^true\/false, 1\/0 or yes\/no$/],
  ['EXECUTION_BLACKOUT', '0 55 7 * * 1-5', /^windows separated by ";".*does not end with a duration/],
  ['EXECUTION_BLACKOUT', '0 99 7 * * * 10m', /is not a cron pattern/],
  ['EXECUTION_BLACKOUT', '0 0 * * * 1h; nonsense 5m', /"nonsense" is not a cron pattern/],
  ['EXCHANGE_TIME_URL', 'api.binance.com/api/v3/time', /^an http\(s\) URL such as https:\/\/api\.binance\.com\/api\/v3\/time/],
  ['EXCHANGE_TIME_URL', 'http://exchange/time#now', /without credentials or fragment/],
  ['EXCHANGE_TIME_FIELD', 'serverTime', /^a JSON pointer such as/],
  ['FIRE_CLOCK', 'binance', /^one of local, exchange \(any case\)$/],
];
// Every numeric setting refuses the same kinds of text.
for (const [env, min, max] of NUMERIC) {
  for (const raw of ['abc', '-1', '1.5', '1e3', '0x10', '+5', '10ms', '99999999999']) INVALID.push([env, raw, new RegExp(`^an integer from ${min} to ${max}$`)]);
}

test('guard settings: a credential in EXCHANGE_STATUS_URL is refused without showing it, its query values are hidden, fail-closed needs the URL', () => {
  const [TOKEN, PASSWORD] = ['sk_live_Q8rT4wX2', 'hunter3-Pa55'];
  const p = onlyProblem({ EXCHANGE_STATUS_URL: `https://ops:${PASSWORD}@exchange/status` });
  assert.ok(!formatProblem(p).includes(PASSWORD), formatProblem(p));
  const q = onlyProblem({ EXCHANGE_STATUS_URL: `https://exchange/status?apiKey=${TOKEN}#x` });
  assert.ok(!formatProblem(q).includes(TOKEN) && q.value.includes('apiKey=***'), formatProblem(q));
  const config = valid({ EXCHANGE_STATUS_URL: `https://exchange/status?apiKey=${TOKEN}` });
  assert.equal(describeConfig(config).EXCHANGE_STATUS_URL, 'https://exchange/status?apiKey=***');
  assert.ok(secretsOf(config).includes(TOKEN), 'the redactor hides the key wherever it appears');
  const f = onlyProblem({ EXCHANGE_STATUS_FAIL_CLOSED: 'true' });
  assert.equal(f.setting, 'EXCHANGE_STATUS_FAIL_CLOSED');
  assert.match(f.expected, /false while EXCHANGE_STATUS_URL is unset/);
});

test('clock settings: FIRE_CLOCK=exchange needs EXCHANGE_TIME_URL; its query values are hidden', () => {
  const p = onlyProblem({ FIRE_CLOCK: 'exchange' });
  assert.equal(formatProblem(p), 'Invalid FIRE_CLOCK="exchange": expected local while EXCHANGE_TIME_URL is unset: the exchange\'s clock is read from it');
  const config = valid({ EXCHANGE_TIME_URL: 'https://exchange/time?apiKey=sk_live_Q8rT4wX2', FIRE_CLOCK: 'exchange' });
  assert.equal(describeConfig(config).EXCHANGE_TIME_URL, 'https://exchange/time?apiKey=***');
  assert.ok(secretsOf(config).includes('sk_live_Q8rT4wX2'));
});

test('every setting has invalid values in the table below', () => {
  for (const env of ALL_ENV) assert.ok(INVALID.some((c) => c[0] === env), `no invalid case for ${env}`);
});

test('every invalid value gives one problem naming the variable, the value and what is expected', async (t) => {
  for (const [env, raw, expected] of INVALID) {
    await t.test(`${env}=${raw}`, () => {
      const p = onlyProblem({ [env]: raw });
      assert.equal(p.setting, env);
      assert.equal(p.value, SETTINGS_BY_ENV[env]!.secret ? '[redacted]' : raw);
      assert.match(p.expected, expected);
      const line = formatProblem(p);
      assert.ok(line.startsWith(`Invalid ${env}=`), line);
      assert.ok(!line.includes('\n'), 'one line');
    });
  }
});

test('the same invalid values given as flags name the flag', async (t) => {
  for (const [env, raw, expected] of INVALID) {
    await t.test(`--${flagName(env)} ${raw}`, () => {
      // The environment holds a valid value: the flag's value is the one refused.
      const p = onlyProblem({ [env]: CUSTOM.find((c) => c[0] === env)![1] }, { [flagName(env)]: raw });
      assert.equal(p.setting, `--${flagName(env)}`);
      assert.equal(p.value, SETTINGS_BY_ENV[env]!.secret ? '[redacted]' : raw);
      assert.match(p.expected, expected);
    });
  }
});

test('every invalid setting is reported at once, in table order', () => {
  const problems = problemsOf({ RETRY_ATTEMPTS: '0', LOG_LEVEL: 'loud', CRON_PATTERN: 'x', DIEGO_URL: 'ok?' }, { 'log-format': 'yaml' });
  assert.deepEqual(
    problems.map((p) => p.setting),
    ['DIEGO_URL', 'CRON_PATTERN', 'RETRY_ATTEMPTS', '--log-format', 'LOG_LEVEL'],
  );
});

test('the schedule: TIMEFRAMES jobs at their candle closes, TIMEFRAME its one-timeframe form, CRON_PATTERN over them, the offset checked', () => {
  const candles = valid({ TIMEFRAMES: '5m,1m', SYMBOLS: 'BTC/USDT,ETH/USDT' });
  assert.deepEqual(candles.schedule.timeframes, ['1m', '5m']);
  assert.equal(candles.schedule.fromCronPattern, false);
  assert.equal(candles.cron.text, '1m candles | 5m candles');
  assert.equal(candles.schedule.patterns['5m']!.next(Date.parse('2024-01-20T10:00:00Z')), Date.parse('2024-01-20T10:05:00Z'));
  assert.equal(describeConfig(candles).CRON_PATTERN, '(unset: each job at its candle close, 1m candles | 5m candles)');
  const one = valid({ TIMEFRAME: '4h', CANDLE_OFFSET_MS: '1500' });
  assert.deepEqual(one.schedule.timeframes, ['4h']);
  assert.equal(one.cron.next(Date.parse('2024-01-20T10:00:00Z')), Date.parse('2024-01-20T12:00:01.500Z'));
  const cron = valid({ TIMEFRAMES: '1m,1h', CRON_PATTERN: '*/10 * * * * *' });
  assert.equal(cron.schedule.fromCronPattern, true);
  assert.equal(cron.schedule.patterns['1h']!.text, '*/10 * * * * *', 'every job follows CRON_PATTERN');
  // Nothing set: today's every-minute pattern, to the letter.
  assert.equal(valid({}).cron.text, '0 * * * * *');
  assert.deepEqual(valid({}).schedule.timeframes, ['1m']);

  assert.equal(formatProblem(onlyProblem({ TIMEFRAME: '1m', TIMEFRAMES: '1m,5m' })), 'Invalid TIMEFRAME="1m": expected unset when TIMEFRAMES is set (1m,5m): TIMEFRAME is the one-timeframe form of TIMEFRAMES, give one');
  assert.equal(onlyProblem({}, { timeframe: '1m', timeframes: '5m' }).setting, '--timeframe');
  assert.equal(formatProblem(onlyProblem({ CANDLE_OFFSET_MS: '500', CRON_PATTERN: '0 * * * * *' })), 'Invalid CANDLE_OFFSET_MS="500": expected 0 while CRON_PATTERN is set (every job follows its moments exactly); the offset applies to candle closes');
  assert.equal(formatProblem(onlyProblem({ CANDLE_OFFSET_MS: '60000', TIMEFRAMES: '1h,1m' })), 'Invalid CANDLE_OFFSET_MS="60000": expected an integer from 0 to 59999: below the shortest timeframe (1m), or a job would fire after its next close');
  assert.equal(valid({ CANDLE_OFFSET_MS: '60000', TIMEFRAMES: '1h,5m' }).candleOffsetMs, 60000);
  assert.equal(valid({ CANDLE_OFFSET_MS: '0', CRON_PATTERN: '0 * * * * *' }).candleOffsetMs, 0, 'an offset of 0 goes with any pattern');
});

test('formatProblem prints the setting, the quoted value and what is expected', () => {
  assert.equal(formatProblem(onlyProblem({ RETRY_ATTEMPTS: '0' })), 'Invalid RETRY_ATTEMPTS="0": expected an integer from 1 to 100');
  assert.equal(formatProblem(onlyProblem({}, { 'log-format': 'xml' })), 'Invalid --log-format="xml": expected one of pretty, json (any case)');
  assert.equal(formatProblem(onlyProblem({ TIMEFRAME: 'a"b' })), 'Invalid TIMEFRAME="a\\"b": expected a timeframe: one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d (candles closing at 00:00 UTC and every interval after)');
});

const TOKEN = 'sk_live_Z9qT4wX2';
const PASSWORD = 'hunter2-Pa55';

test('secrets are redacted in problems: DIEGO_TOKEN and URL passwords', async (t) => {
  const cases: [Env, Record<string, string>, string][] = [
    [{ DIEGO_TOKEN: `${TOKEN} trailing` }, {}, 'DIEGO_TOKEN'],
    [{}, { 'diego-token': `${TOKEN}\tx` }, '--diego-token'],
    [{ DIEGO_URL: `http://scheduler:${PASSWORD}@diego:3001/?debug=1` }, {}, 'DIEGO_URL'],
    [{ DIEGO_URL: `ftp://scheduler:${PASSWORD}@diego:3001` }, {}, 'DIEGO_URL'],
    [{}, { 'miguel-url': `ftp://ops:${PASSWORD}@miguel:3002` }, '--miguel-url'],
    [{ DATABASE_URL: `postgres://pmf:${PASSWORD}@db:port/pmf` }, {}, 'DATABASE_URL'],
    // A password holding "@" (valid: the last "@" ends the user part).
    [{ DIEGO_URL: `http://scheduler:p@ss-${PASSWORD}@diego:3001/#x` }, {}, 'DIEGO_URL'],
  ];
  for (const [env, flags, setting] of cases) {
    await t.test(setting, () => {
      const p = onlyProblem({ DIEGO_TOKEN: TOKEN, ...env }, flags);
      assert.equal(p.setting, setting);
      const line = formatProblem(p);
      for (const secret of [TOKEN, PASSWORD]) assert.ok(!line.includes(secret), `secret leaked: ${line}`);
    });
  }
  assert.equal(onlyProblem({ DIEGO_URL: `http://scheduler:${PASSWORD}@diego:3001/?debug=1` }).value, 'http://scheduler:***@diego:3001/?debug=1');
});

test('describeConfig lists every variable as text, with secrets redacted', () => {
  const config = valid({
    DIEGO_URL: 'http://diego:3001',
    MIGUEL_URL: `https://ops:${PASSWORD}@miguel:3002/`,
    DIEGO_TOKEN: TOKEN,
    SYMBOLS: 'BTC/USDT,ETH/USDT',
    CRON_PATTERN: '*/10 * * * * *',
    DATABASE_URL: 'sqlite:///tmp/pmf.db',
  });
  const described = describeConfig(config);
  assert.deepEqual(Object.keys(described), ALL_ENV);
  assert.deepEqual(described, {
    DIEGO_URL: 'http://diego:3001',
    CRON_PATTERN: '*/10 * * * * *',
    ENABLE_SCHEDULER: 'true',
    RETRY_ATTEMPTS: '3',
    RETRY_DELAY_MS: '5000',
    RUN_ON_START: 'true',
    SYMBOLS: 'BTC/USDT,ETH/USDT',
    TIMEFRAME: '(unset)',
    TIMEFRAMES: '(unset)',
    CANDLE_OFFSET_MS: '0',
    TRIGGER_EXECUTION: 'true',
    DIEGO_TIMEOUT_MS: '20000',
    DIEGO_TOKEN: '[redacted]',
    MIGUEL_URL: 'https://miguel:3002 (Basic auth from the URL)',
    WAIT_FOR_READY: 'true',
    READY_TIMEOUT_MS: '0',
    DATABASE_URL: '/tmp/pmf.db',
    REPLICA_ID: '(host:pid)',
    STATS_INTERVAL_MS: '600000',
    SHUTDOWN_GRACE_MS: '8000',
    MAX_RESPONSE_BYTES: '1048576',
    HISTORY_RETENTION_DAYS: '90',
    METRICS_FILE: '(disabled)',
    LOG_FORMAT: 'pretty',
    LOG_LEVEL: 'info',
    ALERT_WEBHOOK_URL: '(unset)',
    HEALTHCHECK_PING_URL: '(unset)',
    TELEGRAM_BOT_TOKEN: '(unset)',
    TELEGRAM_CHAT_ID: '(disabled)',
    TELEGRAM_API_URL: 'https://api.telegram.org',
    ALERT_AFTER_FAILURES: '3',
    NTP_SERVER: '(disabled)',
    CLOCK_CHECK_INTERVAL_MS: '600000',
    CLOCK_SKEW_WARN_MS: '250',
    CLOCK_SKEW_MAX_MS: '(disabled)',
    MAX_ORDERS_PER_HOUR: '(disabled)',
    MAX_ORDERS_PER_HOUR_PER_SYMBOL: '(disabled)',
    EXECUTION_OFF_AFTER_FAILURES: '(disabled)',
    EXCHANGE_STATUS_URL: '(disabled)',
    EXCHANGE_STATUS_INTERVAL_MS: '30000',
    EXCHANGE_STATUS_FIELD: '/status',
    EXCHANGE_STATUS_OK: '0',
    EXCHANGE_STATUS_FAIL_CLOSED: 'false',
    EXECUTION_BLACKOUT: '(none)',
    EXCHANGE_TIME_URL: '(disabled)',
    EXCHANGE_TIME_FIELD: '/serverTime',
    FIRE_CLOCK: 'local',
    MAX_LATENESS_MS: '(half the gap to the next slot)',
  });
  const text = JSON.stringify(described);
  assert.ok(!text.includes(TOKEN) && !text.includes(PASSWORD), text);
});

test('describeConfig shows an unset token and a disabled Miguel wait', () => {
  const described = describeConfig(valid({ MIGUEL_URL: '' }));
  assert.equal(described.DIEGO_TOKEN, '(unset)');
  assert.equal(described.MIGUEL_URL, '(disabled)');
});

test('LOG_FORMAT and LOG_LEVEL accept any case, like the booleans', () => {
  const config = valid({ LOG_FORMAT: 'JSON', LOG_LEVEL: 'Warn' });
  assert.equal(config.logFormat, 'json');
  assert.equal(config.logLevel, 'warn');
});

test('user:password in DIEGO_URL and MIGUEL_URL become Basic auth, percent-escapes decoded, and leave the URLs', () => {
  const config = valid({ DIEGO_URL: 'http://sched:p%40ss%20w@diego:3001/', MIGUEL_URL: 'https://ops:x@miguel:3002' });
  assert.equal(config.diegoUrl, 'http://diego:3001');
  assert.equal(config.diegoBasicAuth, `Basic ${Buffer.from('sched:p@ss w').toString('base64')}`);
  assert.equal(config.miguelUrl, 'https://miguel:3002');
  assert.equal(config.miguelBasicAuth, `Basic ${Buffer.from('ops:x').toString('base64')}`);
  assert.equal(valid({ DIEGO_URL: 'http://u@diego:3001' }).diegoBasicAuth, `Basic ${Buffer.from('u:').toString('base64')}`);
  assert.equal(valid({}).diegoBasicAuth, undefined);
  assert.equal(valid({ MIGUEL_URL: '' }).miguelBasicAuth, undefined);
});

test('Basic auth in DIEGO_URL together with DIEGO_TOKEN is refused, naming the token (flag or variable), not showing it', () => {
  const p = onlyProblem({ DIEGO_URL: 'http://u:pw@diego:3001', DIEGO_TOKEN: 'tok_live_Abc123' });
  assert.deepEqual(p, { setting: 'DIEGO_TOKEN', value: '[redacted]', expected: 'unset when DIEGO_URL holds user:password (sent as Basic auth): Diego takes one Authorization header' });
  assert.equal(onlyProblem({ DIEGO_TOKEN: 'tok_live_Abc123' }, { 'diego-url': 'http://u:pw@diego:3001' }).expected.startsWith('unset when --diego-url holds'), true);
});

test('XDG_CACHE_HOME (where the single binary extracts its SQLite addon) reaches the SQLite target, and only it', () => {
  assert.deepEqual(valid({ XDG_CACHE_HOME: '/srv/cache', DATABASE_URL: '/var/lib/pmf/h.db' }).database, { kind: 'sqlite', path: '/var/lib/pmf/h.db', cacheHome: '/srv/cache' });
  assert.deepEqual(valid({ DATABASE_URL: '/var/lib/pmf/h.db' }).database, { kind: 'sqlite', path: '/var/lib/pmf/h.db' });
  assert.deepEqual(valid({ XDG_CACHE_HOME: '/srv/cache', DATABASE_URL: 'postgres://u@db/x' }).database, { kind: 'postgres', url: 'postgres://u@db/x' });
});
