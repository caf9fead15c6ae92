import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { BackendTraits } from './database.ts';
import { CYCLE_LEASE_MS, markInterrupted } from './leases.ts';
import type { AttemptOutcome, CycleStatus, Schema, Trigger } from './schema.ts';
import { whereStatus } from './status-filter.ts';

export interface NewCycle {
  symbol: string;
  timeframe: string;
  trigger: Trigger;
  /**
   * The slot. For a `startup` cycle, on a backend whose RUN_ON_START fires once per interval, the newest slot at or
   * before the start (every replica computes the same one), else the start time.
   */
  scheduledAt: number;
  deadlineAt: number;
  startedAt: number;
  idempotencyKey: string;
  owner: string;
}

export interface CycleEnd {
  finishedAt: number;
  status: Exclude<CycleStatus, 'running'>;
  attempts: number;
  reason?: string;
  error?: string;
  httpStatus?: number;
  summary?: string;
  executed: boolean;
}

export interface NewAttempt {
  cycleId: number;
  number: number;
  requestId: string;
  startedAt: number;
}

export interface AttemptEnd {
  finishedAt: number;
  durationMs: number;
  outcome: AttemptOutcome;
  httpStatus?: number;
  error?: string;
  excerpt?: string;
}

/** The writes an agent makes; one narrow port so the queueing and PostgreSQL backends fit behind it. */
export interface HistoryStore {
  /**
   * Inserts the cycle row; undefined when another agent already holds the slot (or, on a database shared by
   * replicas, when a startup cycle finds the job already ran in the current interval, or a scheduled one finds its
   * slot taken by a startup cycle). Throws when the database cannot take it: the caller must then not fire.
   */
  claimCycle(c: NewCycle): Promise<number | undefined>;
  /** Records a slot that was not run (e.g. overlap) as a finished `skipped` cycle; false when the slot was taken. */
  recordSkipped(c: NewCycle, reason: string, error: string): Promise<boolean>;
  finishCycle(id: number, end: CycleEnd): Promise<void>;
  startAttempt(a: NewAttempt): Promise<number>;
  finishAttempt(id: number, end: AttemptEnd): Promise<void>;
  /** Marks cycles left `running` by dead agents `interrupted` (and their open attempts `aborted`); returns the count. */
  recoverInterrupted(now: number, self: AgentIdentity, isAlive: (pid: number) => boolean): Promise<number>;
  /**
   * At shutdown, writes what is still pending within `withinMs`, then reports what could not be written instead of
   * losing it silently. Only a store that defers writes (the write queue) has it.
   */
  settle?(withinMs: number): Promise<void>;
}

/**
 * How logs name a cycle or attempt: `#42`, or `#q3` while its insert waits in the write queue (the database being
 * unavailable); ids below 0 are such provisional ids, and the queue logs the real one when it writes the row.
 */
export const recordLabel = (id: number): string => (id > 0 ? `#${id}` : `#q${-id}`);

/** Who runs a cycle: the process (`host:pid`), and the replica id it goes by when REPLICA_ID is set. */
export interface AgentIdentity {
  host: string;
  pid: number;
  replicaId?: string;
}

/** The agent's name in `cycles.owner` and `agents.owner`: REPLICA_ID, else `host:pid`. */
export const ownerOf = (id: AgentIdentity): string => id.replicaId ?? `${id.host}:${id.pid}`;

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

/**
 * The history store over kysely; `redact` runs on every text column written, so no secret is ever stored.
 * `traits` (the backend's) decide how a startup cycle is claimed; default: SQLite's, one claim per start.
 */
export function createHistoryStore(db: Kysely<Schema>, redact: (text: string) => string, traits?: Pick<BackendTraits, 'startupOncePerInterval' | 'lockForStartupClaim'>): HistoryStore {
  const clean = (text: string | undefined) => (text === undefined ? null : redact(text));
  const cycleRow = (c: NewCycle, status: CycleStatus) => ({
    symbol: c.symbol,
    timeframe: c.timeframe,
    trigger: c.trigger,
    scheduled_at: c.scheduledAt,
    deadline_at: c.deadlineAt,
    started_at: c.startedAt,
    status,
    idempotency_key: c.idempotencyKey,
    owner: c.owner,
  });
  const slotKey = ['symbol', 'timeframe', 'trigger', 'scheduled_at'] as const;
  // The lease runs from the cycle's start; the owner renews it while the cycle runs (src/store/leases.ts).
  const claimRow = (c: NewCycle) => ({ ...cycleRow(c, 'running'), lease_until: c.startedAt + CYCLE_LEASE_MS });

  /**
   * Inserts the claim row unless a cycle of the same job (symbol and timeframe) matching `blocking` exists, in one
   * INSERT … SELECT … WHERE NOT EXISTS statement, the slot key still deciding between equal claims. Undefined when
   * the row was not inserted.
   */
  async function claimUnless(q: Kysely<Schema>, c: NewCycle, blocking: (s: SelectQueryBuilder<Schema, 'cycles', {}>) => SelectQueryBuilder<Schema, 'cycles', {}>) {
    const row = claimRow(c);
    const columns = Object.keys(row) as (keyof typeof row)[];
    // Typed casts: a bare parameter in a SELECT list has no type in PostgreSQL.
    const typed = (value: string | number) => sql`cast(${value} as ${sql.raw(typeof value === 'number' ? 'bigint' : 'text')})`;
    const sameJob = q.selectFrom('cycles').where('symbol', '=', c.symbol).where('timeframe', '=', c.timeframe);
    const values = q.selectNoFrom(columns.map((k) => typed(row[k]).as(k))).where(({ not, exists }) => not(exists(blocking(sameJob).select(sql.lit(1).as('one')))));
    const inserted = await q.insertInto('cycles').columns(columns).expression(values).onConflict((oc) => oc.columns(slotKey).doNothing()).returning('id').executeTakeFirst();
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
  async function claimShared(c: NewCycle): Promise<number | undefined> {
    if (c.trigger === 'schedule') return claimUnless(db, c, (q) => q.where('trigger', '=', 'startup').where('scheduled_at', '=', c.scheduledAt));
    const ranThisInterval = (q: SelectQueryBuilder<Schema, 'cycles', {}>) => q.where('scheduled_at', '>=', c.scheduledAt);
    const lock = traits?.lockForStartupClaim;
    // Without a lock to take, no transaction either: the single statement is atomic, and a transaction open across
    // an await would hold SQLite's write lock while another connection of this thread waits for it.
    if (lock === undefined) return claimUnless(db, c, ranThisInterval);
    return db.transaction().execute(async (tx) => {
      await lock(tx);
      return claimUnless(tx, c, ranThisInterval);
    });
  }

  return {
    async claimCycle(c) {
      if (traits?.startupOncePerInterval) return claimShared(c);
      const row = await db
        .insertInto('cycles')
        .values(claimRow(c))
        .onConflict((oc) => oc.columns(slotKey).doNothing())
        .returning('id')
        .executeTakeFirst();
      return row?.id;
    },

    async recordSkipped(c, reason, error) {
      const row = await db
        .insertInto('cycles')
        .values({ ...cycleRow(c, 'skipped'), finished_at: c.startedAt, reason, error: redact(error) })
        .onConflict((oc) => oc.columns(slotKey).doNothing())
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    async finishCycle(id, e) {
      await db
        .updateTable('cycles')
        .set({
          finished_at: e.finishedAt,
          status: e.status,
          attempts: e.attempts,
          reason: e.reason ?? null,
          error: clean(e.error),
          http_status: e.httpStatus ?? null,
          summary: clean(e.summary),
          executed: e.executed ? 1 : 0,
          lease_until: null, // a lease is a running cycle's only
        })
        .where('id', '=', id)
        .execute();
    },

    async startAttempt(a) {
      const row = await db
        .insertInto('attempts')
        .values({ cycle_id: a.cycleId, number: a.number, request_id: a.requestId, started_at: a.startedAt })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    },

    async finishAttempt(id, e) {
      await db
        .updateTable('attempts')
        .set({
          finished_at: e.finishedAt,
          duration_ms: e.durationMs,
          outcome: e.outcome,
          http_status: e.httpStatus ?? null,
          error: clean(e.error),
          response_excerpt: clean(e.excerpt),
        })
        .where('id', '=', id)
        .execute();
    },

    async recoverInterrupted(now, self, isAlive) {
      const running = await whereStatus(db.selectFrom('cycles').select(['id', 'owner', 'deadline_at', 'lease_until']), 'running').execute();
      const dead = running.filter((r) => isOrphaned(r, now, self, isAlive)).map((r) => r.id);
      return (await markInterrupted(db, dead, now, 'agent_died')).length;
    },
  };
}
