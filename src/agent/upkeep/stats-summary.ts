import type { Kysely } from 'kysely';
import type { Logger } from '../../log/logger.ts';
import { formatSummary, summaryFields } from '../../reports/render-summary.ts';
import { queryStats } from '../../store/history/stats/stats-query.ts';
import type { Schema } from '../../store/schema.ts';
import type { Clock } from '../../time/clock.ts';
import type { CronPattern } from '../../time/cron-pattern.ts';
import { every } from '../../time/every.ts';

/** Logs the stats of the last interval and since start, every `intervalMs`. */
export function logStats(db: Kysely<Schema>, s: { intervalMs: number; cron: CronPattern; symbols: string[]; startedAt: number }, clock: Clock, log: Logger, stop: AbortSignal): Promise<void> {
  return every(clock, stop, s.intervalMs, async () => {
    const now = clock.now();
    try {
      const expected = { now, cron: s.cron, symbols: s.symbols };
      for (const [label, since] of [[`Last ${Math.round(s.intervalMs / 1000)} s`, now - s.intervalMs], ['Since start', s.startedAt]] as const) {
        const report = await queryStats(db, { since, ...expected });
        log.info(formatSummary(label, report), summaryFields(label, report));
      }
    } catch (err) {
      log.warn('Could not compute stats', {}, err);
    }
  });
}
