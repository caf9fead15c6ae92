import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { colorsWanted, redactorOf, systemdNotifySocket, type Config } from '../config.ts';
import { createLogger, type Logger } from '../log/logger.ts';
import { systemdNotifier } from '../agent/upkeep/systemd-notify.ts';
import { systemClock } from '../time/clock.ts';
import type { Io } from './context.ts';
import { configFrom } from './config-from.ts';
import { databaseExit } from './exit-codes.ts';

/** `pmf-scheduler run` (and no command at all): the agent, until a signal. */
export async function runCommand(io: Io, flags: Record<string, string>, overrides?: Record<string, string>): Promise<number> {
  const config = configFrom(io, flags, overrides);
  if (typeof config === 'number') return config;
  return startAgent(config, io, flags);
}

function loggerFor(config: Config, io: Io): Logger {
  return createLogger({
    format: config.logFormat,
    level: config.logLevel,
    colors: config.logFormat === 'pretty' && colorsWanted(io.env, io.isTTY),
    now: () => (io.clock ?? systemClock).now(),
    redact: redactorOf(config),
    sink: { out: (l) => io.out(l), err: (l) => io.err(l) },
  });
}

/** Opens the database and runs the agent until a signal; shared by `run` and `demo`. */
async function startAgent(config: Config, io: Io, flags: Record<string, string>): Promise<number> {
  // The agent's heavy modules (kysely alone is ~400 ES modules, then better-sqlite3 and ofetch), loaded once the
  // configuration is valid: a usage or configuration error, `--help` and `--version` answer ~4x faster without them.
  const [{ runAgent }, { composeAgent }, { openDatabase, openWhenReachable }] = await Promise.all([
    import('../agent/agent.ts'),
    import('../agent/wiring.ts'),
    import('../store/open.ts'),
  ]);
  const log = loggerFor(config, io);
  const clock = io.clock ?? systemClock;
  const stop = new AbortController();
  // Before the database: a PostgreSQL server that is not up yet is waited for, and a signal must end that wait.
  io.onSignal((signal) => {
    log.info(`Received ${signal}: stopping (send it again to exit at once)`);
    stop.abort();
  });
  let database;
  try {
    database = await openWhenReachable(() => openDatabase(config.database, { agent: true }), clock, log, stop.signal);
    if (database === undefined) return 0;
  } catch (err) {
    return databaseExit(err, (line) => log.error(line), { name: flags['database-url'] !== undefined ? '--database-url' : 'DATABASE_URL', target: config.database });
  }
  try {
    return await runAgent(
      composeAgent({
        config,
        clock,
        log,
        database,
        identity: { host: hostname(), pid: io.pid, replicaId: config.replicaId },
        isAlive,
        newId: randomUUID,
        stop: stop.signal,
        // A database outage mid-run costs no record: writes wait in memory, and at a shutdown still inside the
        // outage what is left goes to stderr as JSON lines.
        dump: io.err,
        systemd: systemdNotifySocket(io.env) === undefined ? undefined : systemdNotifier(log),
      }),
    );
  } finally {
    await database.close();
  }
}

/** Whether a process runs on this host (EPERM: it does, as another user). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
