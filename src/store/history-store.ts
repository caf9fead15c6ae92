import type { Kysely } from 'kysely';
import type { AttemptOutcome, CycleStatus, Schema, Trigger } from './schema.ts';

export interface NewCycle {
  symbol: string;
  timeframe: string;
  trigger: Trigger;
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
  /** Inserts the cycle row; undefined when another agent already holds the slot. */
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

/** Who runs a cycle: `host:pid`. */
export interface AgentIdentity {
  host: string;
  pid: number;
}

export const ownerOf = (id: AgentIdentity): string => `${id.host}:${id.pid}`;

/** A cycle is certainly dead this long after its deadline: no live agent runs one that late. */
export const DEAD_AFTER_DEADLINE_MS = 60_000;

/**
 * Whether a `running` cycle belongs to no live agent: past its deadline by a wide margin, or owned on this host
 * by a process that is gone (or by our own pid, which after a container restart is a previous life of ours).
 */
export function isOrphaned(row: { owner: string; deadline_at: number }, now: number, self: AgentIdentity, isAlive: (pid: number) => boolean): boolean {
  if (row.deadline_at + DEAD_AFTER_DEADLINE_MS < now) return true;
  const at = row.owner.lastIndexOf(':');
  const host = row.owner.slice(0, at);
  const pid = Number(row.owner.slice(at + 1));
  if (host !== self.host || !Number.isInteger(pid)) return false;
  return pid === self.pid || !isAlive(pid);
}

/** The history store over kysely; `redact` runs on every text column written, so no secret is ever stored. */
export function createHistoryStore(db: Kysely<Schema>, redact: (text: string) => string): HistoryStore {
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

  return {
    async claimCycle(c) {
      const row = await db
        .insertInto('cycles')
        .values(cycleRow(c, 'running'))
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
      const running = await db.selectFrom('cycles').select(['id', 'owner', 'deadline_at']).where('status', '=', 'running').execute();
      const dead = running.filter((r) => isOrphaned(r, now, self, isAlive)).map((r) => r.id);
      if (dead.length === 0) return 0;
      await db.transaction().execute(async (tx) => {
        await tx
          .updateTable('attempts')
          .set({ finished_at: now, outcome: 'aborted', error: 'the agent stopped before the attempt finished' })
          .where('cycle_id', 'in', dead)
          .where('outcome', 'is', null)
          .execute();
        await tx
          .updateTable('cycles')
          .set((eb) => ({
            status: 'interrupted',
            finished_at: now,
            reason: 'agent_died',
            error: 'the agent stopped before the cycle finished',
            attempts: eb.selectFrom('attempts').select((a) => a.fn.countAll<number>().as('n')).whereRef('attempts.cycle_id', '=', 'cycles.id'),
          }))
          .where('id', 'in', dead)
          .where('status', '=', 'running')
          .execute();
      });
      return dead.length;
    },
  };
}
