import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../store/schema.ts';
import { backoffDelay, type Backoff } from '../time/backoff.ts';
import { auditScope, auditSymbol, type ActionKind, type Applied, type ControlAction, type GuardAction, type GuardLiftedAction, type PauseBeganAction } from './actions.ts';
import { canTakeRunNow } from './agents.ts';
import { inForce, pauseFrom } from './pauses-in-force.ts';
import { ALL_SYMBOLS, type Pause } from './state.ts';

/**
 * The one way a control change is written: `applyControl`. One transaction that
 * 1. bumps `control_version` FIRST: every change, whoever makes it (a command, an agent ending a timed pause or
 *    expiring a request, a guard), locks that one row before any other, so concurrent changes queue there in one
 *    order and cannot deadlock (a pause bumping then deleting beside a resume deleting then bumping did, issue 24);
 * 2. reads the time (`at`) only then: the audit says when the change took hold, not when its command started
 *    before waiting for the lock;
 * 3. validates against the state as it is inside the lock, writes the change and its audit row.
 * Nothing to do, or refused: the transaction is rolled back (no version bump, no audit row). A deadlock (40P01) or
 * serialization failure (40001), or SQLite's busy, is retried a few times, never thrown as a stack trace.
 */
export async function applyControl<K extends ActionKind>(db: Kysely<Schema>, action: ControlAction & { kind: K }, clock: () => number): Promise<Applied<K>> {
  for (let tries = 1; ; tries++) {
    try {
      return await applyOnce(db, action as ControlAction, clock) as Applied<K>;
    } catch (err) {
      if (!retryable(err) || tries >= MAX_TRIES) throw err;
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(RETRY_BACKOFF, tries, Math.random)));
    }
  }
}

/** A lock order makes deadlocks impossible among our own changes; these stay for writers we do not control. */
const MAX_TRIES = 8;
// Half of each wait drawn at random: two changes that collided once should not collide again.
const RETRY_BACKOFF: Backoff = { firstMs: 20, maxMs: 500, jitter: 0.5 };

/** PostgreSQL: deadlock_detected (40P01), serialization_failure (40001); SQLite: busy beyond its timeout. */
export function retryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001' || code === 'SQLITE_BUSY';
}

/** Thrown inside the transaction to roll it back with an outcome that is not an error. */
class Rollback {
  constructor(readonly outcome: Applied) {}
}

async function applyOnce(db: Kysely<Schema>, a: ControlAction, clock: () => number): Promise<Applied> {
  try {
    return await db.transaction().execute(async (tx) => {
      const bumped = await tx.updateTable('control_version').set((eb) => ({ version: eb('version', '+', 1) })).where('id', '=', 1).returning('version').executeTakeFirstOrThrow();
      const version = Number(bumped.version);
      const at = clock();
      const audit = async (extra?: Record<string, unknown>): Promise<number> => {
        const row = await tx
          .insertInto('control_audit')
          .values({ version, at, action: a.kind, symbol: auditSymbol(a), scope: auditScope(a), args: JSON.stringify({ ...a.args, ...extra }), reason: a.reason ?? null, by_who: a.by })
          .returning('id')
          .executeTakeFirstOrThrow();
        return Number(row.id);
      };
      const result = await write(tx, a, at, audit);
      if ('outcome' in result) throw new Rollback(result as Applied);
      return { outcome: 'applied', version, at, ...result } as Applied;
    });
  } catch (err) {
    if (err instanceof Rollback) return err.outcome;
    throw err;
  }
}

type Written = ({ auditId: number } & Record<string, unknown>) | { outcome: 'unchanged' | 'refused'; why: string };

/** Each action's change, inside the transaction, the version row already locked. The audit row is written by `audit`. */
async function write(tx: Transaction<Schema>, a: ControlAction, at: number, audit: (extra?: Record<string, unknown>) => Promise<number>): Promise<Written> {
  switch (a.kind) {
    case 'pause': {
      const auditId = await audit();
      const since = a.from ?? at;
      const begun = since <= at;
      const pause: Pause = { symbol: a.symbol, scope: a.scope, reason: a.reason, by: a.by, since, until: a.until, abort: a.abort, auditId, ...(begun ? {} : { begun: false }) };
      // It replaces a person's pause of the same symbol and scope in force now; a guard's pause and the windows
      // planned ahead stay (issue 22 §3). A window planned ahead replaces nothing.
      if (begun) await tx.deleteFrom('control_pauses').where('symbol', '=', a.symbol).where('scope', '=', a.scope).where('guard', 'is', null).where(inForce(at)).execute();
      await tx.insertInto('control_pauses').values({ symbol: a.symbol, scope: a.scope, reason: a.reason, by_who: a.by, since, until: a.until, abort: a.abort ? 1 : 0, audit_id: auditId, begun: begun ? 1 : 0 }).execute();
      return { auditId, pause };
    }
    case 'resume': {
      // Windows planned ahead stay unless `resume --planned` says otherwise.
      let q = tx.deleteFrom('control_pauses').where('scope', '=', a.scope);
      if (a.planned !== true) q = q.where(inForce(at));
      if (a.symbol !== ALL_SYMBOLS) q = q.where('symbol', '=', a.symbol);
      const rows = await q.returningAll().execute();
      if (rows.length === 0) return { outcome: 'unchanged', why: 'nothing paused' };
      return { auditId: await audit(), lifted: rows.map(pauseFrom) };
    }
    case 'pause_ended': {
      const p = a.pause;
      const gone = await tx.deleteFrom('control_pauses').where('symbol', '=', p.symbol).where('scope', '=', p.scope).where('audit_id', '=', p.auditId).returning('audit_id').execute();
      if (gone.length === 0) return { outcome: 'unchanged', why: 'already ended' };
      return { auditId: await audit() };
    }
    case 'trigger': {
      const refused = await canTakeRunNow(tx, at, a.maxAgentAgeMs);
      if (refused !== undefined) return { outcome: 'refused', why: refused };
      const auditId = await audit();
      const expiresAt = at + a.expiresAfterMs;
      const row = await tx
        .insertInto('control_triggers')
        .values({ symbol: a.symbol, requested_at: at, expires_at: expiresAt, audit_id: auditId, state: 'pending', taken_by: null, slot: null })
        .returning('id')
        .executeTakeFirstOrThrow();
      return { auditId, id: Number(row.id), expiresAt };
    }
    case 'trigger_expired': {
      const rows = await tx.updateTable('control_triggers').set({ state: 'expired' }).where('id', '=', a.request.id).where('state', '=', 'pending').where('expires_at', '<=', at).returning('id').execute();
      if (rows.length === 0) return { outcome: 'unchanged', why: 'not pending, or not expired yet' };
      return { auditId: await audit() };
    }
    case 'reschedule': {
      // Every job (no target): the patterns set for some jobs end with it, so "all" means all. A target: its own row.
      const target = a.target === undefined || a.target === ALL_SYMBOLS ? null : a.target;
      const gone = await (target === null ? tx.deleteFrom('control_schedule') : tx.deleteFrom('control_schedule').where('target', '=', target)).returning('id').execute();
      if (a.pattern === null && gone.length === 0) return { outcome: 'unchanged', why: 'no pattern set by reschedule' };
      const auditId = await audit();
      if (a.pattern !== null) {
        const top = await tx.selectFrom('control_schedule').select((eb) => eb.fn.max('id').as('id')).executeTakeFirst();
        const id = target === null ? 1 : Math.max(1, Number(top?.id ?? 1)) + 1;
        await tx.insertInto('control_schedule').values({ id, target, pattern: a.pattern, reason: a.reason ?? '', by_who: a.by, since: at, audit_id: auditId }).execute();
      }
      return { auditId };
    }
    default:
      return writeGuard(tx, a, at, audit);
  }
}

/** The guard rails' changes (guard-store.ts) and the start of a planned window: the same lock order as every change. */
async function writeGuard(tx: Transaction<Schema>, a: GuardAction | GuardLiftedAction | PauseBeganAction, at: number, audit: (extra?: Record<string, unknown>) => Promise<number>): Promise<Written> {
  switch (a.kind) {
    case 'guard': {
      const auditId = await audit();
      const row = await tx
        .insertInto('control_pauses')
        .values({ symbol: a.symbol, scope: 'execution', reason: a.reason, by_who: a.by, since: at, until: null, abort: 0, audit_id: auditId, guard: a.guard, begun: 1 })
        .onConflict((oc) => oc.columns(['guard', 'symbol', 'scope']).where('guard', 'is not', null).doNothing())
        .returning('audit_id')
        .executeTakeFirst();
      // A guard holds at most one row per symbol (migration 0011's unique index): the second writer rolls back.
      if (row === undefined) return { outcome: 'unchanged', why: 'already off by this guard' };
      return { auditId };
    }
    case 'guard_lifted': {
      const rows = await tx.deleteFrom('control_pauses').where('guard', '=', a.guard).returningAll().execute();
      if (rows.length === 0) return { outcome: 'unchanged', why: 'nothing turned off by this guard' };
      return { auditId: await audit({ lifted: rows.map((r) => Number(r.audit_id)).join(',') }), lifted: rows.map(pauseFrom) };
    }
    case 'pause_began': {
      const rows = await tx.updateTable('control_pauses').set({ begun: 1 }).where('audit_id', '=', a.pause.auditId).where('begun', '=', 0).returning('audit_id').execute();
      if (rows.length === 0) return { outcome: 'unchanged', why: 'already begun' };
      return { auditId: await audit() };
    }
  }
}
