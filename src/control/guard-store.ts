import type { Kysely } from 'kysely';
import type { Schema } from '../store/schema.ts';
import { applyControl } from './apply.ts';
import { ALL_SYMBOLS, type Pause } from './state.ts';

/**
 * Guard rails, the store side (issue 22 §2): a guard turns execution off exactly as `pause --execution` does (a
 * `control_pauses` row of scope `execution` and its audit row, written by applyControl like every change), so
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

/**
 * Turns execution off for `t.symbol` on behalf of a guard, once, through applyControl (the version bumped first, so
 * concurrent writers queue in one order): a guard holds at most one row per symbol (a unique index, migration 0011),
 * so of two replicas tripping the same guard at once the second finds the row and rolls back: one pause, one audit
 * row. The audit id, or undefined when the guard's execution pause was already in force.
 */
export async function guardOff(db: Kysely<Schema>, t: GuardTrip): Promise<number | undefined> {
  const applied = await applyControl(db, { kind: 'guard', guard: t.guard, symbol: t.symbol, reason: t.reason, by: guardActor(t.guard), args: { guard: t.guard, ...t.figures } }, () => t.at);
  return applied.outcome === 'applied' ? applied.auditId : undefined;
}

/**
 * Lifts what `guard` turned off (the exchange guard only: the exchange says it is back), audited `by guard`, once:
 * the replica whose delete finds the rows writes the audit. The pauses lifted.
 */
export async function liftGuard(db: Kysely<Schema>, guard: GuardName, reason: string, figures: Record<string, string | number | boolean>, at: number): Promise<Pause[]> {
  const applied = await applyControl(db, { kind: 'guard_lifted', guard, reason, by: guardActor(guard), args: { guard, ...figures } }, () => at);
  return applied.outcome === 'applied' ? applied.lifted : [];
}

/** Audits the start of a window planned ahead (`pause --from`), once: whichever agent's update finds it unbegun. */
export async function beginPause(db: Kysely<Schema>, p: Pause, owner: string, now: number): Promise<boolean> {
  const applied = await applyControl(db, { kind: 'pause_began', pause: p, reason: p.reason, by: `agent ${owner}`, args: { from: new Date(p.since).toISOString(), pause: p.auditId } }, () => now);
  return applied.outcome === 'applied';
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
