import type { Kysely } from 'kysely';
import type { Logger } from '../../log/logger.ts';
import { pruneHistory } from '../../store/history/prune.ts';
import type { Schema } from '../../store/schema.ts';
import type { Clock } from '../../time/clock.ts';
import { every } from '../../time/every.ts';

/** Retention runs this long after start (not in the start-up rush)… */
export const RETENTION_FIRST_DELAY_MS = 60_000;
/** …then once a day. */
export const RETENTION_INTERVAL_MS = 86_400_000;
/** Pause between two delete batches, so cycles run in between. */
export const RETENTION_PAUSE_MS = 50;

/** Deletes cycles older than `days` in small batches with pauses, once a day. */
export function keepRetention(db: Kysely<Schema>, days: number, clock: Clock, log: Logger, stop: AbortSignal): Promise<void> {
  const between = async () => {
    await clock.sleep(RETENTION_PAUSE_MS, stop);
    return !stop.aborted;
  };
  const chore = async () => {
    const cutoff = clock.now() - days * 86_400_000;
    try {
      const done = await pruneHistory(db, cutoff, { between });
      if (done.cycles > 0) {
        log.info(`Retention: deleted ${done.cycles} cycle(s) and ${done.attempts} attempt(s) scheduled before ${new Date(cutoff).toISOString()} (HISTORY_RETENTION_DAYS=${days})`, { ...done });
      }
    } catch (err) {
      log.warn('Retention failed; it will run again tomorrow', {}, err);
    }
  };
  return every(clock, stop, RETENTION_INTERVAL_MS, chore, RETENTION_FIRST_DELAY_MS);
}
