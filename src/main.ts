import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { cac, type Command } from 'cac';
import { runAgent } from './agent.ts';
import { UsageError, intOption, numberOption, valueOptions } from './cli-args.ts';
import { systemClock } from './clock.ts';
import { SETTINGS, flagName, formatProblem, parseConfig, type Config } from './config.ts';
import { createDiegoClient } from './diego-client.ts';
import { createLogger, type Logger, type LogSink } from './log.ts';
import { createRedactor } from './redact.ts';
import { startSimulator } from './simulator.ts';
import { DatabaseOpenError, openDatabase } from './store/database.ts';
import { createHistoryStore } from './store/history-store.ts';
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

/** Environment plus `run` flags → Config, or exit 2 with one line per invalid setting. */
function configFrom(io: Io, flags: Record<string, string>, overrides: Record<string, string> = {}): Config | number {
  const parsed = parseConfig({ ...io.env, ...overrides }, flags);
  if ('problems' in parsed) {
    for (const p of parsed.problems) io.err(`pmf-scheduler: ${formatProblem(p)}`);
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
  const log = loggerFor(config, io);
  const stop = new AbortController();
  let database;
  try {
    database = await openDatabase(config.database);
  } catch (err) {
    if (err instanceof DatabaseOpenError) {
      log.error(err.message);
      return 2;
    }
    throw err;
  }
  io.onSignal((signal) => {
    log.info(`Received ${signal}: stopping (send it again to exit at once)`);
    stop.abort();
  });
  const redact = createRedactor([config.diegoToken]);
  try {
    return await runAgent({
      config,
      clock: systemClock,
      log,
      db: database.db,
      dbLocation: database.location,
      store: createHistoryStore(database.db, redact),
      client: createDiegoClient({ baseUrl: config.diegoUrl, token: config.diegoToken, maxResponseBytes: config.maxResponseBytes, now: () => Date.now() }),
      identity: { host: hostname(), pid: io.pid },
      isAlive,
      newId: randomUUID,
      stop: stop.signal,
    });
  } finally {
    await database.close();
  }
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
  const config = configFrom(io, {}, opts.db !== undefined ? { DATABASE_URL: opts.db } : {});
  if (typeof config === 'number') return config;
  try {
    const database = await openDatabase(config.database);
    await database.close();
    io.out(`Database ${database.location} is up to date`);
    return 0;
  } catch (err) {
    if (err instanceof DatabaseOpenError) {
      io.err(`pmf-scheduler: ${err.message}`);
      return 2;
    }
    throw err;
  }
}

async function simulatorCommand(io: Io, opts: Record<string, string>): Promise<number> {
  const sim = await startSimulator({
    host: opts.host ?? '127.0.0.1',
    port: intOption('port', opts.port, 3001, 0, 65535),
    failRate: numberOption('fail-rate', opts['fail-rate'], 0.1, 0, 1),
    latencyMs: intOption('latency-ms', opts['latency-ms'], 200, 0, 600_000),
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
