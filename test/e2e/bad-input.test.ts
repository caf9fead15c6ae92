import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnCli } from '../helpers/cli-process.ts';
import { startDiegoStub } from '../helpers/diego-stub.ts';
import { tempDir } from '../helpers/temp-db.ts';

// Every secret below contains this marker; it must appear in no output at all.
const MARK = 'SECRET';
const TOKEN = `tok_${MARK}_9xQ2`;
const PASSWORD = `pw-${MARK}-77`;

interface BadCase {
  name: string;
  args: string[];
  /** Added to (or replacing) the base environment; `dir` is this case's temp directory. */
  env?: (dir: string) => Record<string, string>;
  /** What the one stderr line must show: the setting or argument, and where useful its value. */
  says: (dir: string) => RegExp;
  /** Files the case puts in its temp directory before the run; they must come out unchanged. */
  files?: Record<string, string>;
}

const e = (env: Record<string, string>) => () => env;
const says = (re: RegExp) => () => re;
const NOT_SQLITE = 'this is not a SQLite database\n';

// The process-level contract for a representative of each kind of bad input; config.test.ts checks every invalid
// value of every setting in-process.
const CASES: BadCase[] = [
  // Environment
  { name: 'unparseable CRON_PATTERN', args: [], env: e({ CRON_PATTERN: 'every minute' }), says: says(/^pmf-scheduler: Invalid CRON_PATTERN="every minute": expected a cron pattern/) },
  { name: 'CRON_PATTERN that never fires', args: [], env: e({ CRON_PATTERN: '0 0 31 9 *' }), says: says(/Invalid CRON_PATTERN="0 0 31 9 \*".*never fires/) },
  { name: 'ENABLE_SCHEDULER not a boolean', args: [], env: e({ ENABLE_SCHEDULER: 'maybe' }), says: says(/Invalid ENABLE_SCHEDULER="maybe": expected true\/false, 1\/0 or yes\/no/) },
  { name: 'RETRY_ATTEMPTS 0', args: [], env: e({ RETRY_ATTEMPTS: '0' }), says: says(/Invalid RETRY_ATTEMPTS="0": expected an integer from 1 to 100/) },
  { name: 'RETRY_ATTEMPTS decimal', args: [], env: e({ RETRY_ATTEMPTS: '2.5' }), says: says(/Invalid RETRY_ATTEMPTS="2.5"/) },
  { name: 'RETRY_DELAY_MS in exponent form', args: [], env: e({ RETRY_DELAY_MS: '1e3' }), says: says(/Invalid RETRY_DELAY_MS="1e3": expected an integer/) },
  { name: 'RUN_ON_START not a boolean', args: [], env: e({ RUN_ON_START: 'on' }), says: says(/Invalid RUN_ON_START="on"/) },
  { name: 'SYMBOLS with a duplicate', args: [], env: e({ SYMBOLS: 'BTC/USDT,ETH/USDT,BTC/USDT' }), says: says(/Invalid SYMBOLS=.*without duplicates/) },
  { name: 'TIMEFRAME unknown unit', args: [], env: e({ TIMEFRAME: '1x' }), says: says(/Invalid TIMEFRAME="1x": expected a timeframe/) },
  { name: 'TIMEFRAMES with one no exchange uses', args: [], env: e({ TIMEFRAMES: '1m,7m' }), says: says(/^pmf-scheduler: Invalid TIMEFRAMES="1m,7m": expected comma-separated timeframes, each one of 1m, 3m, 5m, 15m, 30m, 1h, 2h, 4h, 6h, 8h, 12h, 1d/) },
  { name: 'TIMEFRAMES a week', args: [], env: e({ TIMEFRAMES: '1w' }), says: says(/Invalid TIMEFRAMES="1w": expected comma-separated timeframes/) },
  { name: 'TIMEFRAME and TIMEFRAMES both set', args: [], env: e({ TIMEFRAME: '1m', TIMEFRAMES: '1m,5m' }), says: says(/^pmf-scheduler: Invalid TIMEFRAME="1m": expected unset when TIMEFRAMES is set \(1m,5m\)/) },
  { name: 'CANDLE_OFFSET_MS not a number', args: [], env: e({ CANDLE_OFFSET_MS: '1.5s' }), says: says(/Invalid CANDLE_OFFSET_MS="1.5s": expected an integer from 0 to 86399999/) },
  { name: 'CANDLE_OFFSET_MS past the shortest candle', args: [], env: e({ CRON_PATTERN: '', TIMEFRAMES: '5m,1h', CANDLE_OFFSET_MS: '300000' }), says: says(/Invalid CANDLE_OFFSET_MS="300000": expected an integer from 0 to 299999: below the shortest timeframe \(5m\)/) },
  { name: 'CANDLE_OFFSET_MS with CRON_PATTERN', args: [], env: e({ CRON_PATTERN: '0 * * * * *', CANDLE_OFFSET_MS: '500' }), says: says(/Invalid CANDLE_OFFSET_MS="500": expected 0 while CRON_PATTERN is set/) },
  { name: 'TRIGGER_EXECUTION not a boolean', args: [], env: e({ TRIGGER_EXECUTION: '2' }), says: says(/Invalid TRIGGER_EXECUTION="2"/) },
  { name: 'DIEGO_TIMEOUT_MS 0', args: [], env: e({ DIEGO_TIMEOUT_MS: '0' }), says: says(/Invalid DIEGO_TIMEOUT_MS="0": expected an integer from 1/) },
  { name: 'DIEGO_TOKEN with a space', args: [], env: e({ DIEGO_TOKEN: `${TOKEN} x` }), says: says(/Invalid DIEGO_TOKEN="\[redacted\]": expected a token/) },
  { name: 'DIEGO_URL with a password and a query', args: [], env: e({ DIEGO_URL: `http://agent:${PASSWORD}@127.0.0.1:9/?debug=1` }), says: says(/Invalid DIEGO_URL="http:\/\/agent:\*\*\*@127\.0\.0\.1:9\/\?debug=1".*without query/) },
  { name: 'MIGUEL_URL ftp with a password holding "@"', args: [], env: e({ MIGUEL_URL: `ftp://ops:p@${PASSWORD}@miguel:3002` }), says: says(/Invalid MIGUEL_URL="ftp:\/\/ops:\*\*\*@miguel:3002": expected an http\(s\) URL, or empty/) },
  { name: 'WAIT_FOR_READY not a boolean', args: [], env: e({ WAIT_FOR_READY: 'nope' }), says: says(/Invalid WAIT_FOR_READY="nope"/) },
  { name: 'READY_TIMEOUT_MS negative', args: [], env: e({ READY_TIMEOUT_MS: '-5' }), says: says(/Invalid READY_TIMEOUT_MS="-5"/) },
  { name: 'DATABASE_URL malformed postgres with a password', args: [], env: e({ DATABASE_URL: `postgres://pmf:${PASSWORD}@127.0.0.1:port/pmf` }), says: says(/Invalid DATABASE_URL="postgres:\/\/pmf:\*\*\*@127\.0\.0\.1:port\/pmf": expected a PostgreSQL URL/) },
  { name: 'REPLICA_ID with a space', args: [], env: e({ REPLICA_ID: 'replica one' }), says: says(/Invalid REPLICA_ID="replica one": expected up to 200 printable characters/) },
  { name: 'DATABASE_URL a directory path', args: [], env: (dir) => ({ DATABASE_URL: `${dir}/` }), says: (dir) => new RegExp(`Invalid DATABASE_URL="${dir}/": expected a SQLite file path`) },
  { name: 'STATS_INTERVAL_MS with a unit', args: [], env: e({ STATS_INTERVAL_MS: '10m' }), says: says(/Invalid STATS_INTERVAL_MS="10m"/) },
  { name: 'SHUTDOWN_GRACE_MS with a unit', args: [], env: e({ SHUTDOWN_GRACE_MS: '8s' }), says: says(/Invalid SHUTDOWN_GRACE_MS="8s"/) },
  { name: 'MAX_RESPONSE_BYTES too small', args: [], env: e({ MAX_RESPONSE_BYTES: '100' }), says: says(/Invalid MAX_RESPONSE_BYTES="100": expected an integer from 1024/) },
  { name: 'LOG_FORMAT unknown', args: [], env: e({ LOG_FORMAT: 'xml' }), says: says(/Invalid LOG_FORMAT="xml": expected one of pretty, json/) },
  { name: 'LOG_LEVEL unknown', args: [], env: e({ LOG_LEVEL: 'verbose' }), says: says(/Invalid LOG_LEVEL="verbose": expected one of debug, info, warn, error/) },
  { name: 'a bad setting with LOG_FORMAT=json is still one plain line', args: [], env: e({ LOG_FORMAT: 'json', RETRY_ATTEMPTS: '0' }), says: says(/^pmf-scheduler: Invalid RETRY_ATTEMPTS="0"/) },
  // Flags of `run` (and of the default command)
  { name: '--cron-pattern unparseable', args: ['run', '--cron-pattern', 'every minute'], says: says(/Invalid --cron-pattern="every minute"/) },
  { name: '--retry-attempts=-1', args: ['run', '--retry-attempts=-1'], says: says(/Invalid --retry-attempts="-1"/) },
  { name: '--retry-attempts 0 on the default command', args: ['--retry-attempts', '0'], says: says(/Invalid --retry-attempts="0"/) },
  { name: 'a flag wins over a valid variable, and is named', args: ['run', '--retry-attempts', '0x10'], env: e({ RETRY_ATTEMPTS: '5' }), says: says(/Invalid --retry-attempts="0x10"/) },
  { name: '--log-format unknown', args: ['run', '--log-format', 'yaml'], says: says(/Invalid --log-format="yaml"/) },
  { name: '--diego-url ftp', args: ['run', '--diego-url', 'ftp://diego'], says: says(/Invalid --diego-url="ftp:\/\/diego"/) },
  { name: '--diego-token with a space', args: ['run', '--diego-token', `${TOKEN} y`], says: says(/Invalid --diego-token="\[redacted\]"/) },
  { name: '--miguel-url malformed over a valid variable', args: ['run', '--miguel-url', 'nope'], env: e({ MIGUEL_URL: 'http://127.0.0.1:9' }), says: says(/Invalid --miguel-url="nope"/) },
  { name: '--database-url malformed postgres with a password', args: ['run', `--database-url=postgresql://u:${PASSWORD}@h:99999/db`], says: says(/Invalid --database-url="postgresql:\/\/u:\*\*\*@h:99999\/db"/) },
  { name: '--enable-scheduler not a boolean over a valid variable', args: ['run', '--enable-scheduler', 'maybe'], env: e({ ENABLE_SCHEDULER: 'false' }), says: says(/Invalid --enable-scheduler="maybe"/) },
  { name: '--diego-url without its value', args: ['run', '--diego-url'], says: says(/`--diego-url <value>` value is missing/) },
  // Commands and options
  { name: 'an unknown command', args: ['bogus'], says: says(/^pmf-scheduler: Unknown command "bogus"/) },
  { name: 'an unknown option', args: ['--bogus'], says: says(/Unknown option `--bogus`/) },
  { name: 'a misspelt secret option does not echo its value', args: ['run', '--diego-tokn', TOKEN], says: says(/Unknown option `--diego-?[Tt]okn`/) },
  { name: 'an extra argument to run', args: ['run', 'extra'], says: says(/Unused args: `extra`/) },
  { name: 'simulator --port abc', args: ['simulator', '--port', 'abc'], says: says(/Invalid --port "abc": expected an integer from 0 to 65535/) },
  { name: 'simulator --fail-rate above 1', args: ['simulator', '--fail-rate', '2'], says: says(/Invalid --fail-rate "2": expected a number from 0 to 1/) },
  { name: 'simulator --host without its value', args: ['simulator', '--host'], says: says(/`--host <host>` value is missing/) },
  { name: 'migrate --db a directory path', args: ['migrate', '--db', 'data/'], says: says(/^pmf-scheduler: Invalid --db="data\/": expected a SQLite file path/) },
  { name: 'migrate with DATABASE_URL malformed postgres', args: ['migrate'], env: e({ DATABASE_URL: `postgres://u:${PASSWORD}@/db` }), says: says(/Invalid DATABASE_URL="postgres:\/\/u:\*\*\*@\/db"/) },
  // Storage named by DATABASE_URL that cannot be used
  { name: 'DATABASE_URL a file that is not SQLite', args: [], env: (dir) => ({ DATABASE_URL: join(dir, 'junk.db') }), files: { 'junk.db': NOT_SQLITE }, says: (dir) => new RegExp(`${join(dir, 'junk.db')} is not a SQLite database`) },
  { name: 'DATABASE_URL with a mistyped scheme and a password', args: [], env: e({ DATABASE_URL: `postgress://u:${PASSWORD}@h/db` }), says: says(/^pmf-scheduler: Invalid DATABASE_URL="postgress:\/\/u:\*\*\*@h\/db": expected a SQLite file path, a sqlite: or file: URL, or a postgres:\/\/ URL$/) },
  { name: 'history --db with an unknown scheme', args: ['history', '--db', `mysql://root:${PASSWORD}@db/pmf`], says: says(/^pmf-scheduler: Invalid --db="mysql:\/\/root:\*\*\*@db\/pmf": expected a SQLite file path/) },
  // TZ: the runtime's own variable, checked with the settings (an unknown zone silently means UTC)
  { name: 'TZ unknown, for the agent', args: [], env: e({ TZ: 'Mars/Olympus' }), says: says(/^pmf-scheduler: Invalid TZ="Mars\/Olympus": expected an IANA time zone such as Europe\/Paris or UTC/) },
  { name: 'TZ unknown, for next', args: ['next'], env: e({ TZ: 'Mars/Olympus' }), says: says(/^pmf-scheduler: Invalid TZ="Mars\/Olympus"/) },
  { name: 'TZ in the wrong case (the runtime would use UTC)', args: ['next'], env: e({ TZ: 'europe/paris' }), says: says(/^pmf-scheduler: Invalid TZ="europe\/paris": .*case-sensitive/) },
  // Arguments: a value starting with "-", a repeated option, a day that is not in the calendar
  { name: 'history --since -1h (not help)', args: ['history', '--since', '-1h'], says: says(/^pmf-scheduler: Invalid --since "-1h": expected a time such as/) },
  { name: 'history --until -1h (not help)', args: ['history', '--until', '-1h'], says: says(/^pmf-scheduler: Invalid --until "-1h": expected a time/) },
  { name: 'stats --window -1h (not help)', args: ['stats', '--window', '-1h'], says: says(/^pmf-scheduler: Invalid --window "-1h": expected all or a duration/) },
  { name: 'history --limit -1 names --limit', args: ['history', '--limit', '-1'], says: says(/^pmf-scheduler: Invalid --limit "-1": expected an integer from 1 to 100000$/) },
  { name: 'next --count -3 names --count', args: ['next', '--count', '-3'], says: says(/^pmf-scheduler: Invalid --count "-3": expected an integer from 1 to 1000$/) },
  { name: 'history --json twice', args: ['history', '--json', '--json'], says: says(/^pmf-scheduler: Option --json is given more than once: give it once$/) },
  { name: 'stats --window twice', args: ['stats', '--window', '1h', '--window=2h'], says: says(/^pmf-scheduler: Option --window is given more than once/) },
  { name: 'history --since 2024-02-30 (not March 1st)', args: ['history', '--since', '2024-02-30'], says: says(/^pmf-scheduler: Invalid --since "2024-02-30": expected a time/) },
  { name: 'stats --until 2023-02-29T10:00:00Z', args: ['stats', '--until', '2023-02-29T10:00:00Z'], says: says(/^pmf-scheduler: Invalid --until "2023-02-29T10:00:00Z"/) },
  // Guard rails (docs/guards.md)
  { name: 'MAX_ORDERS_PER_HOUR 0', args: [], env: e({ MAX_ORDERS_PER_HOUR: '0' }), says: says(/^pmf-scheduler: Invalid MAX_ORDERS_PER_HOUR="0": expected an integer from 1 to 1000000$/) },
  { name: 'MAX_ORDERS_PER_HOUR_PER_SYMBOL not a number', args: [], env: e({ MAX_ORDERS_PER_HOUR_PER_SYMBOL: 'ten' }), says: says(/^pmf-scheduler: Invalid MAX_ORDERS_PER_HOUR_PER_SYMBOL="ten": expected an integer/) },
  { name: 'EXECUTION_OFF_AFTER_FAILURES 0', args: [], env: e({ EXECUTION_OFF_AFTER_FAILURES: '0' }), says: says(/^pmf-scheduler: Invalid EXECUTION_OFF_AFTER_FAILURES="0": expected an integer from 1 to 1000$/) },
  { name: 'EXCHANGE_STATUS_URL with a password', args: [], env: e({ EXCHANGE_STATUS_URL: `https://ops:${PASSWORD}@127.0.0.1:9/status` }), says: says(/^pmf-scheduler: Invalid EXCHANGE_STATUS_URL="https:\/\/ops:\*\*\*@127\.0\.0\.1:9\/status": expected an http\(s\) URL .*without credentials/) },
  { name: 'EXCHANGE_STATUS_URL with a key in its query and a fragment', args: [], env: e({ EXCHANGE_STATUS_URL: `https://127.0.0.1:9/status?apiKey=${TOKEN}#x` }), says: says(/^pmf-scheduler: Invalid EXCHANGE_STATUS_URL="https:\/\/127\.0\.0\.1:9\/status\?apiKey=\*\*\*#x"/) },
  { name: 'EXCHANGE_STATUS_INTERVAL_MS below 1000', args: [], env: e({ EXCHANGE_STATUS_INTERVAL_MS: '10' }), says: says(/^pmf-scheduler: Invalid EXCHANGE_STATUS_INTERVAL_MS="10": expected an integer from 1000 to 3600000$/) },
  { name: 'EXCHANGE_STATUS_FIELD not a JSON pointer', args: [], env: e({ EXCHANGE_STATUS_FIELD: 'status' }), says: says(/^pmf-scheduler: Invalid EXCHANGE_STATUS_FIELD="status": expected a JSON pointer/) },
  { name: 'EXCHANGE_STATUS_OK with a control character', args: [], env: e({ EXCHANGE_STATUS_OK: 'ok\u001b[2J' }), says: says(/^pmf-scheduler: Invalid EXCHANGE_STATUS_OK=.*expected the value meaning normal/) },
  { name: 'EXCHANGE_STATUS_FAIL_CLOSED not a boolean', args: [], env: e({ EXCHANGE_STATUS_FAIL_CLOSED: 'maybe' }), says: says(/^pmf-scheduler: Invalid EXCHANGE_STATUS_FAIL_CLOSED="maybe"/) },
  { name: 'FIRE_CLOCK=exchange without EXCHANGE_TIME_URL', args: [], env: e({ FIRE_CLOCK: 'exchange' }), says: says(/^pmf-scheduler: Invalid FIRE_CLOCK="exchange": expected local while EXCHANGE_TIME_URL is unset/) },
  { name: 'FIRE_CLOCK unknown', args: [], env: e({ FIRE_CLOCK: 'binance' }), says: says(/^pmf-scheduler: Invalid FIRE_CLOCK="binance": expected one of local, exchange/) },
  { name: 'EXCHANGE_TIME_URL not a URL', args: [], env: e({ EXCHANGE_TIME_URL: 'api.binance.com/api/v3/time' }), says: says(/^pmf-scheduler: Invalid EXCHANGE_TIME_URL="api\.binance\.com\/api\/v3\/time": expected an http\(s\) URL/) },
  { name: 'EXCHANGE_TIME_FIELD not a pointer', args: [], env: e({ EXCHANGE_TIME_FIELD: 'serverTime' }), says: says(/^pmf-scheduler: Invalid EXCHANGE_TIME_FIELD="serverTime": expected a JSON pointer/) },
  { name: 'MAX_LATENESS_MS zero', args: [], env: e({ MAX_LATENESS_MS: '0' }), says: says(/^pmf-scheduler: Invalid MAX_LATENESS_MS="0": expected an integer from 1 to 86400000/) },
  { name: 'EXCHANGE_STATUS_FAIL_CLOSED without EXCHANGE_STATUS_URL', args: [], env: e({ EXCHANGE_STATUS_FAIL_CLOSED: 'true' }), says: says(/^pmf-scheduler: Invalid EXCHANGE_STATUS_FAIL_CLOSED="true": expected false while EXCHANGE_STATUS_URL is unset/) },
  { name: 'EXECUTION_BLACKOUT without a duration', args: [], env: e({ EXECUTION_BLACKOUT: '0 55 7 * * 1-5' }), says: says(/^pmf-scheduler: Invalid EXECUTION_BLACKOUT="0 55 7 \* \* 1-5": expected windows separated by ";".*does not end with a duration/) },
  { name: 'EXECUTION_BLACKOUT with a bad pattern', args: [], env: e({ EXECUTION_BLACKOUT: '0 0 * * * 1h; 0 99 * * * * 5m' }), says: says(/^pmf-scheduler: Invalid EXECUTION_BLACKOUT=.*"0 99 \* \* \* \*" is not a cron pattern/) },
  { name: 'pause --from in the past', args: ['pause', '--execution', '--reason', 'x', '--from', '2020-01-01T00:00:00Z'], says: says(/^pmf-scheduler: Invalid --from "2020-01-01T00:00:00Z": expected an ISO time in the future/) },
  { name: 'pause --from a duration', args: ['pause', '--reason', 'x', '--from', '2h'], says: says(/^pmf-scheduler: Invalid --from "2h": expected an ISO time in the future/) },
  { name: 'pause --until before --from', args: ['pause', '--reason', 'x', '--from', '2099-01-02T00:00:00Z', '--until', '2099-01-01T00:00:00Z'], says: says(/^pmf-scheduler: Invalid --until "2099-01-01T00:00:00Z": expected a time after --from/) },
  { name: 'DATABASE_URL an existing directory', args: [], env: (dir) => ({ DATABASE_URL: join(dir, 'sub') }), files: { 'sub/': '' }, says: (dir) => new RegExp(`Cannot open database ${join(dir, 'sub')}`) },
];

/** Runs the built CLI (dist/src/cli.js, see spawnCli) to its exit; a run past `limitMs` is killed (this child only). */
async function runCli(args: string[], env: Record<string, string>, cwd: string, limitMs = 10_000): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const p = spawnCli(args, env, { cwd });
  // The raw text rather than spawnCli's lines, which leave out an unterminated last line.
  let stdout = '';
  let stderr = '';
  p.child.stdout!.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
  p.child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  const timer = setTimeout(() => p.kill('SIGKILL'), limitMs);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stdout, stderr };
}

async function check(c: BadCase): Promise<void> {
  const stub = await startDiegoStub([{ status: 200 }]);
  const tmp = tempDir('pmf-bad-input-');
  try {
    for (const [name, content] of Object.entries(c.files ?? {})) {
      if (name.endsWith('/')) mkdirSync(join(tmp.dir, name));
      else writeFileSync(join(tmp.dir, name), content);
    }
    const before = readdirSync(tmp.dir).sort();
    // Everything else valid and pointing at the stub, so a case that slipped through would probe and call it.
    const env = {
      DIEGO_URL: stub.url,
      MIGUEL_URL: stub.url,
      DATABASE_URL: join(tmp.dir, 'history.db'),
      DIEGO_TOKEN: TOKEN,
      CRON_PATTERN: '* * * * * *',
      RETRY_DELAY_MS: '0',
      READY_TIMEOUT_MS: '2000',
      ...c.env?.(tmp.dir),
    };
    // In the temp directory, so a value taken as a relative path would show up as a new entry there.
    const out = await runCli(c.args, env, tmp.dir);
    // Let any request the child sent just before exiting reach the stub's handlers.
    await new Promise((resolve) => setTimeout(resolve, 30));

    assert.equal(out.code, 2, `exit code; stderr: ${out.stderr}`);
    const lines = out.stderr.split('\n');
    assert.equal(lines.pop(), '', 'stderr ends with a newline');
    assert.equal(lines.length, 1, `exactly one line on stderr:\n${out.stderr}`);
    assert.match(lines[0]!, c.says(tmp.dir));
    assert.equal(out.stdout, '', 'nothing on stdout');
    assert.equal(stub.received.length, 0, 'no POST /analyze');
    assert.equal(stub.healthChecks, 0, 'no GET /health');
    assert.ok(!`${out.stdout}${out.stderr}`.includes(MARK), `a secret was echoed: ${out.stderr}`);
    assert.deepEqual(readdirSync(tmp.dir).sort(), before, 'no database file was created');
    for (const [name, content] of Object.entries(c.files ?? {})) {
      if (!name.endsWith('/')) assert.equal(readFileSync(join(tmp.dir, name), 'utf8'), content, `${name} left untouched`);
    }
  } finally {
    await stub.close();
    tmp.cleanup();
  }
}

test('the table holds at least 40 bad inputs, each named once', () => {
  assert.ok(CASES.length >= 40, `${CASES.length} cases`);
  assert.equal(new Set(CASES.map((c) => c.name)).size, CASES.length);
});

// Several CLIs at a time: the table takes a few seconds, not one process start after another.
test('every bad input exits 2 with one line naming it, before any request, without echoing a secret', { concurrency: 6 }, async (t) => {
  await Promise.all(CASES.map((c) => t.test(c.name, { timeout: 20_000 }, () => check(c))));
});
