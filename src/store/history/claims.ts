import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { CycleStatus } from '../../records.ts';
import { CYCLE_LEASE_MS } from './leases.ts';
import type { BackendTraits, NewCycle } from '../port.ts';
import type { Schema } from '../schema.ts';

/** The slot key: a unique index, so a second agent's insert of the same slot does nothing and it never fires. */
export const SLOT_KEY = ['symbol', 'timeframe', 'trigger', 'scheduled_at'] as const;

/** A new cycle as a `cycles` row. */
export const cycleRow = (c: NewCycle, status: CycleStatus) => ({
  symbol: c.symbol,
  timeframe: c.timeframe,
  trigger: c.trigger,
  scheduled_at: c.scheduledAt,
  deadline_at: c.deadlineAt,
  started_at: c.startedAt,
  status,
  idempotency_key: c.idempotencyKey,
  owner: c.owner,
  execution_off: c.executionOff ?? null,
});

// The lease runs from the cycle's start; the owner renews it while the cycle runs (leases.ts).
const claimRow = (c: NewCycle) => ({ ...cycleRow(c, 'running'), lease_until: c.startedAt + CYCLE_LEASE_MS });

/** Claims a slot: inserts its `running` row unless the slot key already holds one; the new id, or undefined. */
export function claimSlot(db: Kysely<Schema>, c: NewCycle, traits?: Pick<BackendTraits, 'startupOncePerInterval' | 'lockForStartupClaim'>): Promise<number | undefined> {
  // A manual cycle is fired by the one agent that took its request (control_triggers): its insert needs no check.
  if (traits?.startupOncePerInterval && c.trigger !== 'manual') return claimShared(db, c, traits.lockForStartupClaim);
  return db
    .insertInto('cycles')
    .values(claimRow(c))
    .onConflict((oc) => oc.columns(SLOT_KEY).doNothing())
    .returning('id')
    .executeTakeFirst()
    .then((row) => row?.id);
}

type CycleQuery = SelectQueryBuilder<Schema, 'cycles', {}>;

/**
 * Inserts the claim row unless a cycle of the same job (symbol and timeframe) matching `blocking` exists, in one
 * INSERT … SELECT … WHERE NOT EXISTS statement, the slot key still deciding between equal claims. Undefined when
 * the row was not inserted.
 */
async function claimUnless(q: Kysely<Schema>, c: NewCycle, blocking: (s: CycleQuery) => CycleQuery): Promise<number | undefined> {
  const row = claimRow(c);
  const columns = Object.keys(row) as (keyof typeof row)[];
  // Typed casts: a bare parameter in a SELECT list has no type in PostgreSQL.
  const typed = (value: string | number | null) => sql`cast(${value} as ${sql.raw(typeof value === 'number' ? 'bigint' : 'text')})`;
  const sameJob = q.selectFrom('cycles').where('symbol', '=', c.symbol).where('timeframe', '=', c.timeframe);
  const values = q.selectNoFrom(columns.map((k) => typed(row[k]).as(k))).where(({ not, exists }) => not(exists(blocking(sameJob).select(sql.lit(1).as('one')))));
  const inserted = await q.insertInto('cycles').columns(columns).expression(values).onConflict((oc) => oc.columns(SLOT_KEY).doNothing()).returning('id').executeTakeFirst();
  return inserted?.id;
}

/**
 * A database shared by replicas runs RUN_ON_START at most once per interval of the pattern, and not at all when
 * the job already ran in it. Race-free in three parts:
 * - a startup row's key is the newest slot at or before the start (`c.scheduledAt`), which every replica starting
 *   in the same interval computes alike: the unique slot key lets only one of them in;
 * - a startup claim inserts only if no cycle of the job is scheduled at or after that slot (nobody ran this
 *   interval, nor has claimed the next slot), and the backend's lock (PostgreSQL: a table lock held for this one
 *   statement) waits for the claims under way and holds off new ones, so its check cannot miss a concurrent claim;
 * - a scheduled claim inserts only if no startup row holds its slot: a replica late for a slot that another one
 *   ran at start-up in the meantime does not fire it again. Its own insert waits behind that lock, so it sees a
 *   startup row committed while it waited.
 */
async function claimShared(db: Kysely<Schema>, c: NewCycle, lock: BackendTraits['lockForStartupClaim']): Promise<number | undefined> {
  if (c.trigger === 'schedule') return claimUnless(db, c, (q) => q.where('trigger', '=', 'startup').where('scheduled_at', '=', c.scheduledAt));
  const ranThisInterval = (q: CycleQuery) => q.where('scheduled_at', '>=', c.scheduledAt);
  // Without a lock to take, no transaction either: the single statement is atomic, and a transaction open across
  // an await would hold SQLite's write lock while another connection of this thread waits for it.
  if (lock === undefined) return claimUnless(db, c, ranThisInterval);
  return db.transaction().execute(async (tx) => {
    await lock(tx);
    return claimUnless(tx, c, ranThisInterval);
  });
}
