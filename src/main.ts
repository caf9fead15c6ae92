import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { cac, type Command } from 'cac';
import { UsageError, intOption, numberOption, valueOptions } from './cli-args.ts';
import { systemClock } from './clock.ts';
import type { CommandContext } from './commands/context.ts';
import { SETTINGS, flagName, formatProblem, parseConfig, type Config } from './config.ts';
import { createLogger, type Logger, type LogSink } from './log.ts';
import { createRedactor } from './redact.ts';
import { startSimulator } from './simulator.ts';
import { VERSION } from './version.ts';

/** The process edges the commands use; `cli.ts` passes the real ones, tests their own. */
export interface Io {
  env: Record<string, string | undefined>;
  out: (text: string) => void;
  err: (text: string) => void;
  isTTY: boolean;
  /** SIGINT/SIGTERM: the first asks for a graceful stop. */
  onSignal: (handler: (signal: string) => void) => void;
  pid: number;
}

/** Runs the CLI and resolves to the exit code: 0 stop, 1 runtime failure, 2 usage or configuration error. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const cli = cac('pmf-scheduler');
  const values = valueOptions(argv);
  let result: Promise<number> = Promise.resolve(0);

  const withAgentOptions = (cmd: Command) => {
    for (const s of Object.values(SETTINGS)) cmd.option(`--${flagName(s.env)} <value>`, `${s.help} (env ${s.env}, default ${s.default === '' ? 'unset' : JSON.stringify(s.default)})`);
    return cmd;
  };
  withAgentOptions(cli.command('[...args]', 'Start the agent (same as run)')).action((args: string[]) => {
    if (args.length > 0) throw new UsageError(`Unknown command ${JSON.stringify(args[0])}: see pmf-scheduler --help`);
    result = runCommand(io, values);
  });
  withAgentOptions(cli.command('run', 'Start the agent')).action(() => {
    result = runCommand(io, values);
  });
  cli
    .command('migrate', 'Create or update the database schema, then exit')
    .option('--db <path>', 'SQLite file (default: DATABASE_URL)')
    .action(() => {
      result = migrateCommand(io, values);
    });
  cli
    .command('simulator', 'Run the built-in Diego simulator (answers GET /health and POST /analyze)')
    .option('--host <host>', 'address to listen on', { default: '127.0.0.1' })
    .option('--port <port>', 'port to listen on', { default: 3001 })
    .option('--fail-rate <rate>', 'share of /analyze answered 503, 0..1', { default: 0.1 })
    .option('--latency-ms <ms>', 'added latency per /analyze', { default: 200 })
    .action(() => {
      result = simulatorCommand(io, values);
    });
  cli
    .command('demo', 'Run the simulator and the agent against it every 5 s, with some failures (data/demo.db)')
    .option('--db <path>', 'SQLite file', { default: './data/demo.db' })
    .action(() => {
      result = demoCommand(io, values);
    });
  // Reports and upkeep: each command's module is loaded only when it runs, so `history` pays for no agent code.
  const command = (load: () => Promise<(ctx: CommandContext) => Promise<number>>) => (flags: Record<string, unknown>) => {
    result = toolCommand(io, values, flags, load);
  };
  const dbOption = ['--db <path>', 'SQLite file (default: DATABASE_URL)'] as const;
  const timeHelp = '30m, 2h, 7d (that long ago) or an ISO time';
  cli
    .command('history', 'Past cycles, newest first (read-only; works while the agent runs)')
    .option('--limit <n>', 'how many cycles (default 20)')
    .option('--status <status>', 'succeeded, failed, skipped, interrupted or running')
    .option('--symbol <symbol>', 'only this symbol, such as BTC/USDT')
    .option('--since <time>', `scheduled at or after: ${timeHelp}`)
    .option('--until <time>', `scheduled before: ${timeHelp}`)
    .option('--cycle <id>', 'one cycle with all its attempts')
    .option('--json', 'a JSON array (fields in the README)')
    .option(...dbOption)
    .action(command(async () => (await import('./commands/history.ts')).historyCommand));
  cli
    .command('stats', 'Success rate, latency, lateness, failures and missed slots over a window (read-only)')
    .option('--window <span>', '10m, 1h, 24h, 7d or all (default 24h)')
    .option('--since <time>', `window start instead of --window: ${timeHelp}`)
    .option('--until <time>', `window end (default now): ${timeHelp}`)
    .option('--cron <pattern>', "pattern for missed slots (default: the newest agent's, else CRON_PATTERN)")
    .option('--by <group>', 'symbol (default) or replica: the numbers per replica that ran the cycles')
    .option('--json', 'the same numbers as JSON (fields in the README)')
    .option(...dbOption)
    .action(command(async () => (await import('./commands/stats.ts')).statsCommand));
  cli
    .command('next', 'The next fire times of the pattern, local and UTC (checks a pattern before deploying)')
    .option('--count <n>', 'how many (default 5)')
    .option('--cron <pattern>', 'the pattern (default CRON_PATTERN)')
    .option('--json', 'as JSON')
    .action(command(async () => (await import('./commands/next.ts')).nextCommand));
  cli
    .command('healthcheck', "Exit 0 when the agent's heartbeat is fresh, 1 with the reason otherwise (Docker HEALTHCHECK)")
    .option('--max-age <span>', 'heartbeat older than this is stale (default 60s)')
    .option('--max-failures <n>', 'also unhealthy after this many consecutive failed cycles')
    .option(...dbOption)
    .action(command(async () => (await import('./commands/healthcheck.ts')).healthcheckCommand));
  cli
    .command('prune', 'Delete cycles and their attempts older than HISTORY_RETENTION_DAYS (or --older-than)')
    .option('--older-than <span>', 'such as 30d (default HISTORY_RETENTION_DAYS days)')
    .option('--dry-run', 'only count what would be deleted')
    .option(...dbOption)
    .action(command(async () => (await import('./commands/prune.ts')).pruneCommand));
  cli.help();
  cli.version(VERSION);

  try {
    cli.parse(['node', 'pmf-scheduler', ...argv], { run: false });
    if (cli.options.help || cli.options.version) return 0;
    await cli.runMatchedCommand();
    return await result;
  } catch (err) {
    if (err instanceof UsageError || (err instanceof Error && err.name === 'CACError')) {
      io.err(`pmf-scheduler: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

const sinkOf = (io: Io): LogSink => ({ out: (l) => io.out(l), err: (l) => io.err(l) });

function loggerFor(config: Config, io: Io): Logger {
  return createLogger({
    format: config.logFormat,
    level: config.logLevel,
    colors: config.logFormat === 'pretty' && io.isTTY && !io.env.NO_COLOR,
    now: () => Date.now(),
    redact: createRedactor([config.diegoToken]),
    sink: sinkOf(io),
  });
}

/**
 * Environment plus `run` flags → Config, or exit 2 with one line per invalid setting. `shownAs` names an override
 * by the option it came from (`DATABASE_URL` → `--db`), so the line names what the user typed.
 */
function configFrom(io: Io, flags: Record<string, string>, overrides: Record<string, string> = {}, shownAs: Record<string, string> = {}): Config | number {
  const parsed = parseConfig({ ...io.env, ...overrides }, flags);
  if ('problems' in parsed) {
    for (const p of parsed.problems) io.err(`pmf-scheduler: ${formatProblem({ ...p, setting: shownAs[p.setting] ?? p.setting })}`);
    return 2;
  }
  return parsed.config;
}

async function runCommand(io: Io, flags: Record<string, string>, overrides?: Record<string, string>): Promise<number> {
  const config = configFrom(io, flags, overrides);
  if (typeof config === 'number') return config;
  return startAgent(config, io);
}

/** Opens the database and runs the agent until a signal; shared by `run` and `demo`. */
async function startAgent(config: Config, io: Io): Promise<number> {
  const { runAgent, createDiegoClient, DatabaseOpenError, openDatabase, openWhenReachable, createHistoryStore, AGENT_BUSY_TIMEOUT_MS, createWriteQueue } = await agentModules();
  const log = loggerFor(config, io);
  const stop = new AbortController();
  // Before the database: a PostgreSQL server that is not up yet is waited for, and a signal must end that wait.
  io.onSignal((signal) => {
    log.info(`Received ${signal}: stopping (send it again to exit at once)`);
    stop.abort();
  });
  let database;
  try {
    database = await openWhenReachable(() => openDatabase(config.database, { busyTimeoutMs: AGENT_BUSY_TIMEOUT_MS }), systemClock, log, stop.signal);
    if (database === undefined) return 0;
  } catch (err) {
    if (err instanceof DatabaseOpenError) {
      log.error(err.message);
      return 2;
    }
    throw err;
  }
  const { db, traits } = database;
  const redact = createRedactor([config.diegoToken]);
  try {
    return await runAgent({
      config,
      clock: systemClock,
      log,
      db,
      dbLocation: database.location,
      traits,
      // A database outage mid-run costs no record: writes wait in memory, and at a shutdown still inside the outage
      // what is left goes to stderr as JSON lines. Whether a slot whose claim cannot be written still fires is the
      // backend's choice: yes on SQLite (availability), no on PostgreSQL shared by replicas (exactly once).
      store: createWriteQueue(createHistoryStore(db, redact, traits), {
        log: log.child('STORE'),
        clock: systemClock,
        dump: io.err,
        redact,
        claimMustSucceed: traits.claimMustSucceed,
        isStorageFault: (err) => traits.isUnavailable(err),
        lockWaits: traits.setLockWait && ((wait) => traits.setLockWait!(db, wait ? AGENT_BUSY_TIMEOUT_MS : 0)),
      }),
      client: createDiegoClient({ baseUrl: config.diegoUrl, token: config.diegoToken, maxResponseBytes: config.maxResponseBytes, now: () => Date.now() }),
      identity: { host: hostname(), pid: io.pid, replicaId: config.replicaId },
      isAlive,
      newId: randomUUID,
      stop: stop.signal,
    });
  } finally {
    await database.close();
  }
}

/**
 * The agent's heavy modules (kysely alone is ~400 ES modules, then better-sqlite3 and ofetch), loaded once the
 * configuration is valid: a usage or configuration error, `--help` and `--version` answer ~4x faster without them.
 */
async function agentModules() {
  const [agent, client, database, historyStore, writeQueue, reachable] = await Promise.all([
    import('./agent.ts'),
    import('./diego-client.ts'),
    import('./store/database.ts'),
    import('./store/history-store.ts'),
    import('./store/write-queue.ts'),
    import('./store/reachable.ts'),
  ]);
  return { ...agent, ...client, ...database, ...historyStore, ...writeQueue, ...reachable };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function migrateCommand(io: Io, opts: Record<string, string>): Promise<number> {
  const config = opts.db !== undefined ? configFrom(io, {}, { DATABASE_URL: opts.db }, { DATABASE_URL: '--db' }) : configFrom(io, {});
  if (typeof config === 'number') return config;
  const { DatabaseOpenError, openDatabase } = await import('./store/database.ts');
  try {
    const database = await openDatabase(config.database);
    await database.close();
    io.out(`Database ${database.location} is up to date`);
    return 0;
  } catch (err) {
    if (err instanceof DatabaseOpenError) {
      io.err(`pmf-scheduler: ${err.message}`);
      return err.kind === 'unreachable' ? 1 : 2; // a server that does not answer may answer later: not a usage error
    }
    throw err;
  }
}

/** Runs a report or upkeep command: configuration from the environment (DATABASE_URL overridden by --db). */
async function toolCommand(io: Io, opts: Record<string, string>, flags: Record<string, unknown>, load: () => Promise<(ctx: CommandContext) => Promise<number>>): Promise<number> {
  const config = opts.db !== undefined ? configFrom(io, {}, { DATABASE_URL: opts.db }, { DATABASE_URL: '--db' }) : configFrom(io, {});
  if (typeof config === 'number') return config;
  const run = await load();
  return run({ config, opts, flags, out: io.out, err: io.err, colors: io.isTTY && !io.env.NO_COLOR, now: Date.now(), host: hostname() });
}

async function simulatorCommand(io: Io, opts: Record<string, string>): Promise<number> {
  const sim = await startSimulator({
    host: opts.host ?? '127.0.0.1',
    port: intOption('port', opts.port, 3001, 0, 65535),
    failRate: numberOption('fail-rate', opts['fail-rate'], 0.1, 0, 1),
    latencyMs: intOption('latency-ms', opts['latency-ms'], 200, 0, 600_000),
    onRequest: (r) => io.out(`[${new Date(r.at).toISOString()}] [SIMULATOR] ${r.method} ${r.path} ${r.status} idempotency-key=${String(r.headers['idempotency-key'] ?? '-')}`),
  });
  io.out(`Diego simulator listening on ${sim.url} (GET /health, POST /analyze)`);
  await new Promise<void>((resolve) => io.onSignal(() => resolve()));
  await sim.close();
  io.out(`Simulator stopped after ${sim.requests} /analyze requests`);
  return 0;
}

async function demoCommand(io: Io, opts: Record<string, string>): Promise<number> {
  const db = opts.db ?? './data/demo.db';
  const sim = await startSimulator({ port: 0, failRate: 0.25, latencyMs: 150 });
  io.out(`Demo: Diego simulator on ${sim.url} (25% of answers fail, so retries show); agent every 5 s; history in ${db}`);
  io.out(`Look at the results while it runs or after Ctrl-C:  npx pmf-scheduler history --db ${db}   and   npx pmf-scheduler stats --db ${db}`);
  try {
    return await runCommand(io, {}, {
      DIEGO_URL: sim.url,
      MIGUEL_URL: sim.url,
      CRON_PATTERN: '*/5 * * * * *',
      RETRY_DELAY_MS: '1000',
      DIEGO_TIMEOUT_MS: '4000',
      DATABASE_URL: db,
      STATS_INTERVAL_MS: '60000',
    });
  } finally {
    await sim.close();
  }
}
