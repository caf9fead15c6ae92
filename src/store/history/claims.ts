import { sql, type Kysely, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import type { CycleStatus, SkipReason } from '../../records.ts';
import { targetsOf } from '../../records.ts';

/** The skip reason of a slot claimed under a pause of cycles. */
const PAUSED: SkipReason = 'paused';
import { CYCLE_LEASE_MS } from './leases.ts';
import type { BackendTraits, ClaimAnswer, NewCycle } from '../port.ts';
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

/**
 * The pause of `scope` holding `symbol` at `t`, as its note (`paused by alice: why`, the agent's pauseNote), the
 * symbol's own before the whole agent's: a scalar subquery, so the claim reads the pauses in its own statement. A
 * pause holds at t iff `since <= t and (until is null or t < until)` (control/state.ts holdsAt).
 */
function pauseNoteAt(q: Kysely<Schema>, c: Pick<NewCycle, 'symbol' | 'timeframe'>, scope: 'cycles' | 'execution', t: number) {
  const prefix = scope === 'execution' ? 'execution paused by ' : 'paused by ';
  // The targets that hold the job, most specific first (control/state.ts targetsOf): its own, its symbol's, its
  // timeframe's, every job's.
  const [own, symbol, timeframe, all] = targetsOf(c.symbol, c.timeframe);
  const sub = q
    .selectFrom('control_pauses')
    .select(sql<string>`${prefix} || by_who || ': ' || reason`.as('note'))
    .where('scope', '=', scope)
    .where('symbol', 'in', [own!, symbol!, timeframe!, all!])
    .where('since', '<=', t)
    .where((eb) => eb.or([eb('until', 'is', null), eb('until', '>', t)]))
    .orderBy(sql`case symbol when ${own} then 0 when ${symbol} then 1 when ${timeframe} then 2 else 3 end`)
    .limit(1);
  return sql<string | null>`(${sub})`;
}

/**
 * The claim's row: a new `running` cycle, or, when a pause of cycles holds at its start, a finished `skipped` one
 * (reason `paused`); its `execution_off` is what the database says (a pause of execution), else the agent's copy.
 * The lease runs from the cycle's start; the owner renews it while the cycle runs (leases.ts).
 */
function claimRow(q: Kysely<Schema>, c: NewCycle) {
  const t = c.startedAt;
  const paused = pauseNoteAt(q, c, 'cycles', t);
  const num = (v: number) => sql<number>`cast(${v} as bigint)`;
  return {
    ...cycleRow(c, 'running'),
    status: sql<CycleStatus>`case when ${paused} is null then 'running' else 'skipped' end`,
    reason: sql<SkipReason | null>`case when ${paused} is null then null else ${sql.lit(PAUSED)} end`,
    error: paused,
    finished_at: sql<number | null>`case when ${paused} is null then null else ${num(t)} end`,
    lease_until: sql<number | null>`case when ${paused} is null then ${num(t + CYCLE_LEASE_MS)} else null end`,
    execution_off: sql<string | null>`coalesce(${pauseNoteAt(q, c, 'execution', t)}, cast(${c.executionOff ?? null} as text))`,
  };
}

const RETURNED = ['id', 'status', 'error', 'execution_off'] as const;
const answerOf = (row: { id: number; status: CycleStatus; error: string | null; execution_off: string | null } | undefined): ClaimAnswer | undefined =>
  row && { id: row.id, paused: row.status === 'skipped' ? (row.error ?? 'paused') : undefined, executionOff: row.execution_off ?? undefined };

/**
 * Claims a slot: inserts its row unless the slot key already holds one, reading the pauses in force in the same
 * statement (issue 22: the database decides, not the agent's copy). The claim's answer, or undefined.
 */
export function claimSlot(db: Kysely<Schema>, c: NewCycle, traits?: Pick<BackendTraits, 'startupOncePerInterval' | 'lockForStartupClaim'>): Promise<ClaimAnswer | undefined> {
  // A manual cycle is fired by the one agent that took its request (control_triggers): its insert needs no check.
  if (traits?.startupOncePerInterval && c.trigger !== 'manual') return claimShared(db, c, traits.lockForStartupClaim).then(answerOf);
  return db
    .insertInto('cycles')
    .values(claimRow(db, c))
    .onConflict((oc) => oc.columns(SLOT_KEY).doNothing())
    .returning(RETURNED)
    .executeTakeFirst()
    .then(answerOf);
}

/** Claim answers kept for their claimer at most (a replay's claims have no claimer to read them). */
const MAX_UNREAD_ANSWERS = 64;

/**
 * Claims that keep each claim's answer (what its statement read of the pauses) until the claimer reads it, at once:
 * the port's `claimCycle` answers an id, `claimAnswer(id)` the rest.
 */
export function claimsAnswered(db: Kysely<Schema>, traits?: Pick<BackendTraits, 'startupOncePerInterval' | 'lockForStartupClaim'>) {
  const answers = new Map<number, Omit<ClaimAnswer, 'id'>>();
  return {
    async claim(c: NewCycle): Promise<number | undefined> {
      const answer = await claimSlot(db, c, traits);
      if (answer === undefined) return undefined;
      if (answers.size >= MAX_UNREAD_ANSWERS) answers.clear();
      answers.set(answer.id, { paused: answer.paused, executionOff: answer.executionOff });
      return answer.id;
    },
    answer(id: number): Omit<ClaimAnswer, 'id'> | undefined {
      const answer = answers.get(id);
      answers.delete(id);
      return answer;
    },
  };
}

type CycleQuery = SelectQueryBuilder<Schema, 'cycles', {}>;

/**
 * Inserts the claim row unless a cycle of the same job (symbol and timeframe) matching `blocking` exists, in one
 * INSERT … SELECT … WHERE NOT EXISTS statement, the slot key still deciding between equal claims. Undefined when
 * the row was not inserted.
 */
async function claimUnless(q: Kysely<Schema>, c: NewCycle, blocking: (s: CycleQuery) => CycleQuery) {
  const row = claimRow(q, c);
  const columns = Object.keys(row) as (keyof typeof row)[];
  // Typed casts: a bare parameter in a SELECT list has no type in PostgreSQL.
  const typed = (value: unknown): RawBuilder<unknown> => (typeof value === 'object' && value !== null ? (value as RawBuilder<unknown>) : sql`cast(${value} as ${sql.raw(typeof value === 'number' ? 'bigint' : 'text')})`);
  const sameJob = q.selectFrom('cycles').where('symbol', '=', c.symbol).where('timeframe', '=', c.timeframe);
  const values = q.selectNoFrom(columns.map((k) => typed(row[k]).as(k))).where(({ not, exists }) => not(exists(blocking(sameJob).select(sql.lit(1).as('one')))));
  return q.insertInto('cycles').columns(columns).expression(values).onConflict((oc) => oc.columns(SLOT_KEY).doNothing()).returning(RETURNED).executeTakeFirst();
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
async function claimShared(db: Kysely<Schema>, c: NewCycle, lock: BackendTraits['lockForStartupClaim']) {
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
