import type { Kysely } from 'kysely';
import type { Schema } from '../schema.ts';

/** How much a prune removed (or, for a dry run, would remove). */
export interface PruneResult {
  cycles: number;
  attempts: number;
}

/** How a prune paces itself. */
export interface PruneOptions {
  /** Cycles per transaction (default DEFAULT_PRUNE_BATCH). */
  batchSize?: number;
  /** Awaited between batches (the agent sleeps a little there, so cycles run in between); stops early when it returns false. */
  between?: () => Promise<boolean>;
}

/** Cycles per delete transaction: each takes a few ms, so a cycle's writes never wait long behind it. */
export const DEFAULT_PRUNE_BATCH = 500;

/** What a prune with this cutoff would delete: finished cycles scheduled before `cutoff` and their attempts. */
export async function countPrunable(db: Kysely<Schema>, cutoff: number): Promise<PruneResult> {
  const old = db.selectFrom('cycles').select('id').where('scheduled_at', '<', cutoff).where('status', '!=', 'running');
  const [cycles, attempts] = await Promise.all([
    old.clearSelect().select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow(),
    db.selectFrom('attempts').select((eb) => eb.fn.countAll<number>().as('n')).where('cycle_id', 'in', old).executeTakeFirstOrThrow(),
  ]);
  return { cycles: Number(cycles.n), attempts: Number(attempts.n) };
}

/**
 * Deletes finished cycles scheduled before `cutoff`, and their attempts, in batches of `batchSize` cycles, each
 * batch one short transaction (attempts first, so it does not depend on the foreign key's cascade). A `running`
 * cycle is never deleted. Agents whose last heartbeat is older than the cutoff lose their rows too.
 */
export async function pruneHistory(db: Kysely<Schema>, cutoff: number, opts: PruneOptions = {}): Promise<PruneResult> {
  const batchSize = opts.batchSize ?? DEFAULT_PRUNE_BATCH;
  const done: PruneResult = { cycles: 0, attempts: 0 };
  for (;;) {
    const batch = await db.transaction().execute(async (tx) => {
      const ids = (
        await tx.selectFrom('cycles').select('id').where('scheduled_at', '<', cutoff).where('status', '!=', 'running').orderBy('scheduled_at').limit(batchSize).execute()
      ).map((r) => r.id);
      if (ids.length === 0) return { cycles: 0, attempts: 0 };
      const attempts = await tx.deleteFrom('attempts').where('cycle_id', 'in', ids).executeTakeFirst();
      const cycles = await tx.deleteFrom('cycles').where('id', 'in', ids).executeTakeFirst();
      return { cycles: Number(cycles.numDeletedRows), attempts: Number(attempts.numDeletedRows) };
    });
    done.cycles += batch.cycles;
    done.attempts += batch.attempts;
    if (batch.cycles < batchSize) break;
    if (opts.between && !(await opts.between())) break;
  }
  await db.deleteFrom('agents').where('heartbeat_at', '<', cutoff).execute();
  return done;
}
