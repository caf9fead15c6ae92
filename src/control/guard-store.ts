import type { Kysely } from 'kysely';
import type { Schema } from '../store/schema.ts';
import { audit } from './control-store.ts';
import { ALL_SYMBOLS, type Pause } from './state.ts';

/**
 * Guard rails, the store side (issue 22 §2): a guard turns execution off exactly as `pause --execution` does (a
 * `control_pauses` row of scope `execution` and its audit row, one transaction that bumps the version first), so
 * whatever honours a person's kill switch honours a guard's with no extra code. Only a person lifts it
 * (`resume --execution`), except what the exchange guard turned off, which it lifts itself (liftGuard).
 */

/** The guards, by the name their rows carry in `control_pauses.guard`. */
export const GUARDS = ['orders_cap', 'failures', 'exchange'] as const;
export type GuardName = (typeof GUARDS)[number];

/** Who a guard's rows say acted: `guard orders_cap`. Begins with `guard`, as the contract with the claim says. */
export const guardActor = (guard: GuardName): string => `guard ${guard}`;

/** What a guard found: why, in words, and the figures behind it (kept in the audit row's arguments). */
export interface GuardTrip {
  guard: GuardName;
  symbol: string;
  reason: string;
  figures: Record<string, string | number | boolean>;
  at: number;
}

/** Thrown inside the transaction to roll it back when the guard's row is already there. */
class AlreadyOff extends Error {}

/**
 * Turns execution off for `t.symbol` on behalf of a guard, once: the version bump serialises concurrent writers, and
 * a guard holds at most one row per symbol (a unique index, migration 0011), so of two replicas tripping the same guard
 * at once the second finds the row and rolls back: one pause, one audit row. The audit id, or undefined when the
 * guard's execution pause was already in force.
 */
export async function guardOff(db: Kysely<Schema>, t: GuardTrip): Promise<number | undefined> {
  try {
    return await db.transaction().execute(async (tx) => {
      const by = guardActor(t.guard);
      const { auditId } = await audit(tx, { action: 'guard', symbol: t.symbol, scope: 'execution', args: { guard: t.guard, ...t.figures }, reason: t.reason, by, at: t.at });
      const row = await tx
        .insertInto('control_pauses')
        .values({ symbol: t.symbol, scope: 'execution', reason: t.reason, by_who: by, since: t.at, until: null, abort: 0, audit_id: auditId, guard: t.guard, begun: 1 })
        .onConflict((oc) => oc.columns(['guard', 'symbol', 'scope']).where('guard', 'is not', null).doNothing())
        .returning('audit_id')
        .executeTakeFirst();
      if (row === undefined) throw new AlreadyOff();
      return auditId;
    });
  } catch (err) {
    if (err instanceof AlreadyOff) return undefined;
    throw err;
  }
}

/**
 * Lifts what `guard` turned off (the exchange guard only: the exchange says it is back), audited `by guard`, once:
 * the replica whose delete finds the rows writes the audit. The pauses lifted.
 */
export function liftGuard(db: Kysely<Schema>, guard: GuardName, reason: string, figures: Record<string, string | number | boolean>, at: number): Promise<Pause[]> {
  return db.transaction().execute(async (tx) => {
    const rows = await tx.deleteFrom('control_pauses').where('guard', '=', guard).returning(['symbol', 'audit_id', 'since', 'reason']).execute();
    if (rows.length === 0) return [];
    await audit(tx, { action: 'guard_lifted', symbol: ALL_SYMBOLS, scope: 'execution', args: { guard, ...figures, lifted: rows.map((r) => Number(r.audit_id)).join(',') }, reason, by: guardActor(guard), at });
    return rows.map((r) => ({ symbol: r.symbol, scope: 'execution' as const, reason: r.reason, by: guardActor(guard), since: Number(r.since), until: null, abort: false, auditId: Number(r.audit_id), guard }));
  });
}

/** Audits the start of a window planned ahead (`pause --from`), once: whichever agent's update finds it unbegun. */
export function beginPause(db: Kysely<Schema>, p: Pause, owner: string, now: number): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const rows = await tx.updateTable('control_pauses').set({ begun: 1 }).where('audit_id', '=', p.auditId).where('begun', '=', 0).returning('audit_id').execute();
    if (rows.length === 0) return false;
    await audit(tx, { action: 'pause_began', symbol: p.symbol, scope: p.scope, args: { from: new Date(p.since).toISOString(), pause: p.auditId }, reason: p.reason, by: `agent ${owner}`, at: now });
    return true;
  });
}

/**
 * When a person last turned execution back on for `symbol` (a `resume --execution` of it or of every symbol), or 0:
 * a guard counts only what came after, so it does not trip again on the orders or failures a person has looked at.
 */
export async function lastExecutionResume(db: Kysely<Schema>, symbol: string): Promise<number> {
  const row = await db
    .selectFrom('control_audit')
    .select((eb) => eb.fn.max('at').as('at'))
    .where('action', '=', 'resume')
    .where('scope', '=', 'execution')
    .where('symbol', 'in', symbol === ALL_SYMBOLS ? [ALL_SYMBOLS] : [ALL_SYMBOLS, symbol])
    .executeTakeFirst();
  return row?.at == null ? 0 : Number(row.at);
}

/** Cycles whose answer said an order was placed, of every replica, scheduled at or after `from` (of `symbol`, or all). */
export async function ordersSince(db: Kysely<Schema>, from: number, symbol: string = ALL_SYMBOLS): Promise<number> {
  let q = db.selectFrom('cycles').select((eb) => eb.fn.countAll<number>().as('n')).where('scheduled_at', '>=', from).where('executed', '=', 1);
  if (symbol !== ALL_SYMBOLS) q = q.where('symbol', '=', symbol);
  const row = await q.executeTakeFirst();
  return Number(row?.n ?? 0);
}

/**
 * The newest `n` cycles of `symbol` that ran to an answer or a failure (succeeded or failed; skipped and interrupted
 * ones say nothing of Diego), scheduled after `after`, newest first, each failed or not.
 */
export async function lastOutcomes(db: Kysely<Schema>, symbol: string, after: number, n: number): Promise<boolean[]> {
  const rows = await db
    .selectFrom('cycles')
    .select(['status', 'execution_failed'])
    .where('symbol', '=', symbol)
    .where('status', 'in', ['succeeded', 'failed'])
    .where('scheduled_at', '>', after)
    .orderBy('scheduled_at', 'desc')
    .limit(n)
    .execute();
  return rows.map((r) => r.status === 'failed' || Number(r.execution_failed) === 1);
}
