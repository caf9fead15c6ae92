import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { readinessDelay } from '../readiness.ts';
import { DatabaseOpenError, type Database } from './database.ts';

/**
 * Opens the agent's database, waiting for a server that is not reachable yet (PostgreSQL starting beside the agent,
 * or down): every failed try is logged with its reason and retried after the readiness backoff (0.5 s doubling to
 * 10 s). Only `unreachable` is waited for; any other failure is thrown at once (exit 2). Resolves undefined when
 * `stop` aborts first. The agent fires nothing before this returns, and it returns only once the migrations ran.
 */
export async function openWhenReachable(open: () => Promise<Database>, clock: Clock, log: Logger, stop: AbortSignal): Promise<Database | undefined> {
  for (let tries = 1; !stop.aborted; tries++) {
    try {
      const database = await open();
      if (tries > 1) log.info(`Database ${database.location} reachable after ${tries} tries`);
      return database;
    } catch (err) {
      if (!(err instanceof DatabaseOpenError) || err.kind !== 'unreachable') throw err;
      const wait = readinessDelay(tries);
      log.warn(`${err.message} (try ${tries}); retrying in ${wait} ms, nothing fires until it answers`);
      await clock.sleep(wait, stop);
    }
  }
  return undefined;
}
