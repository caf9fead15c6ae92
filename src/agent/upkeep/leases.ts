import type { Kysely } from 'kysely';
import type { Logger } from '../../log/logger.ts';
import { LEASE_CHECK_MS, checkLeases } from '../../store/history/leases.ts';
import type { Schema } from '../../store/schema.ts';
import type { Clock } from '../../time/clock.ts';
import { every } from '../../time/every.ts';
import { spell } from '../../log/spell.ts';

/**
 * Every LEASE_CHECK_MS: renews the leases of this agent's running cycles, and marks `interrupted` the running cycles
 * of agents whose lease expired (a replica that died mid-cycle). A failure is logged once per failing spell (the
 * database may be down: the write queue or the claims say so in their own words) and the loop goes on.
 */
export function keepLeases(db: Kysely<Schema>, owner: string, clock: Clock, log: Logger, stop: AbortSignal): Promise<void> {
  const health = spell(log, (why) => `Could not renew cycle leases (${why}); retrying every ${LEASE_CHECK_MS / 1000} s`, 'Cycle leases renewed again');
  return every(clock, stop, LEASE_CHECK_MS, async () => {
    try {
      const done = await checkLeases(db, owner, clock.now());
      health.ok();
      const byOwner = new Map<string, number[]>();
      for (const e of done.expired) byOwner.set(e.owner, [...(byOwner.get(e.owner) ?? []), e.id]);
      for (const [dead, ids] of byOwner) {
        log.warn(`Marked ${ids.length} cycle(s) of ${dead} interrupted: its lease expired (the replica died or lost the database mid-cycle): ${ids.map((id) => `#${id}`).join(', ')}`, { owner: dead, cycles: ids });
      }
    } catch (err) {
      health.failed(err);
    }
  });
}
