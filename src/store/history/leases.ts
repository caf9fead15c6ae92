import type { Kysely } from 'kysely';
import { ownerOf, type AgentIdentity } from '../../records.ts';
import type { Schema } from '../schema.ts';
import { whereStatus } from './status-filter.ts';

/**
 * How long a running cycle's lease lasts from its last renewal. Its owner renews it every LEASE_CHECK_MS, so it
 * always has at least LEASE_MS − LEASE_CHECK_MS (10 s) left while the owner lives: replicas whose clocks differ by
 * less than that never take a live cycle for a dead one (the lease is written with the owner's clock and read with
 * another's).
 */
export const CYCLE_LEASE_MS = 15_000;
/** How often an agent renews the leases of its running cycles and looks for expired ones. */
export const LEASE_CHECK_MS = 5_000;

/** A cycle is certainly dead this long after its deadline: no live agent runs one that late. */
export const DEAD_AFTER_DEADLINE_MS = 60_000;

/**
 * Whether a `running` cycle, seen at start-up, belongs to no live agent: owned by our own name (a previous life: the
 * same REPLICA_ID, or our pid after a container restart), past its deadline by a wide margin, its lease expired
 * (its owner stopped renewing it), or owned on this host by a process that is gone. A fresh lease of another
 * replica on another host is never touched: that replica is alive.
 */
export function isOrphaned(
  row: { owner: string; deadline_at: number; lease_until?: number | null },
  now: number,
  self: AgentIdentity,
  isAlive: (pid: number) => boolean,
): boolean {
  if (row.owner === ownerOf(self)) return true;
  if (row.deadline_at + DEAD_AFTER_DEADLINE_MS < now) return true;
  if (row.lease_until != null && row.lease_until < now) return true;
  const at = row.owner.lastIndexOf(':');
  const host = row.owner.slice(0, at);
  const pid = Number(row.owner.slice(at + 1));
  if (host !== self.host || !Number.isInteger(pid)) return false;
  return pid === self.pid || !isAlive(pid);
}

/** Why a running cycle was marked `interrupted` by someone other than its own agent. */
export type InterruptedReason = 'agent_died' | 'lease_expired';

const ERRORS: Record<InterruptedReason, { cycle: string; attempt: string }> = {
  agent_died: { cycle: 'the agent stopped before the cycle finished', attempt: 'the agent stopped before the attempt finished' },
  lease_expired: {
    cycle: 'its replica stopped renewing the lease (it died, hung or lost the database) before the cycle finished',
    attempt: 'its replica stopped renewing the lease before the attempt finished',
  },
};

/**
 * Marks the given cycles `interrupted` (attempt count taken from their rows) and their open attempts `aborted`, in
 * one transaction; returns the ids it marked. Only cycles still `running` are touched, and with `leaseExpiredBefore`
 * only those whose lease is still expired at that instant, re-checked by the update itself: an owner that renewed in
 * the meantime keeps its cycle, whatever another agent read a moment before.
 */
export async function markInterrupted(db: Kysely<Schema>, ids: readonly number[], now: number, reason: InterruptedReason, leaseExpiredBefore?: number): Promise<number[]> {
  if (ids.length === 0) return [];
  return db.transaction().execute(async (tx) => {
    let update = whereStatus(tx
      .updateTable('cycles')
      .set((eb) => ({
        status: 'interrupted',
        finished_at: now,
        lease_until: null,
        reason,
        error: ERRORS[reason].cycle,
        attempts: eb.selectFrom('attempts').select((a) => a.fn.countAll<number>().as('n')).whereRef('attempts.cycle_id', '=', 'cycles.id'),
      }))
      .where('id', 'in', ids), 'running');
    if (leaseExpiredBefore !== undefined) update = update.where('lease_until', '<', leaseExpiredBefore);
    const marked = (await update.returning('id').execute()).map((r) => r.id);
    if (marked.length > 0) {
      await tx
        .updateTable('attempts')
        .set({ finished_at: now, outcome: 'aborted', error: ERRORS[reason].attempt })
        .where('cycle_id', 'in', marked)
        .where('outcome', 'is', null)
        .execute();
    }
    return marked;
  });
}

/** What one lease check did. */
export interface LeaseCheck {
  /** This agent's running cycles whose lease was pushed forward. */
  renewed: number;
  /** Other agents' cycles marked `interrupted` because their lease had expired, with their owners. */
  expired: { id: number; owner: string }[];
}

/**
 * One pass of the lease keeper: renews the leases of `owner`'s running cycles to `now + CYCLE_LEASE_MS`, then marks
 * `interrupted` the running cycles of other agents whose lease has expired (their agent died mid-cycle). It reads
 * first and writes only when there is something to write, so an idle agent costs the database one indexed read.
 */
export async function checkLeases(db: Kysely<Schema>, owner: string, now: number): Promise<LeaseCheck> {
  const running = await whereStatus(db.selectFrom('cycles').select(['id', 'owner', 'lease_until']), 'running').execute();
  let renewed = 0;
  if (running.some((r) => r.owner === owner)) {
    const done = await whereStatus(db.updateTable('cycles').set({ lease_until: now + CYCLE_LEASE_MS }).where('owner', '=', owner), 'running').executeTakeFirst();
    renewed = Number(done.numUpdatedRows);
  }
  const stale = running.filter((r) => r.owner !== owner && r.lease_until !== null && r.lease_until < now);
  const marked = new Set(await markInterrupted(db, stale.map((r) => r.id), now, 'lease_expired', now));
  return { renewed, expired: stale.filter((r) => marked.has(r.id)).map((r) => ({ id: r.id, owner: r.owner })) };
}
