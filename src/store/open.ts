import type { Logger } from '../log/logger.ts';
import { backoffDelay, RECONNECT_BACKOFF } from '../time/backoff.ts';
import type { Clock } from '../time/clock.ts';
import { DatabaseOpenError, type Database, type DatabaseTarget, type OpenOptions } from './port.ts';

/**
 * Opens (and for writers creates and migrates) the history database: a SQLite file (`sqlite/`), or a PostgreSQL
 * server (`postgres/`); each backend's module, and its driver, is loaded only when it is the one asked for.
 */
export async function openDatabase(target: DatabaseTarget, opts: OpenOptions = {}): Promise<Database> {
  if (target.kind === 'postgres') return (await import('./postgres/open.ts')).openPostgres(target.url, opts);
  return (await import('./sqlite/open.ts')).openSqlite(target.path, opts, target.cacheHome);
}

/**
 * Opens the agent's database, waiting for a server that is not reachable yet (PostgreSQL starting beside the agent,
 * or down): every failed try is logged with its reason and retried after RECONNECT_BACKOFF. Only `unreachable` is
 * waited for; any other failure is thrown at once (exit 2). Resolves undefined when `stop` aborts first. The agent
 * fires nothing before this returns, and it returns only once the migrations ran.
 */
export async function openWhenReachable(open: () => Promise<Database>, clock: Clock, log: Logger, stop: AbortSignal): Promise<Database | undefined> {
  for (let tries = 1; !stop.aborted; tries++) {
    try {
      const database = await open();
      if (tries > 1) log.info(`Database ${database.location} reachable after ${tries} tries`);
      return database;
    } catch (err) {
      if (!(err instanceof DatabaseOpenError) || err.kind !== 'unreachable') throw err;
      const wait = backoffDelay(RECONNECT_BACKOFF, tries, clock.random);
      log.warn(`${err.message} (try ${tries}); retrying in ${wait} ms, nothing fires until it answers`);
      await clock.sleep(wait, stop);
    }
  }
  return undefined;
}
