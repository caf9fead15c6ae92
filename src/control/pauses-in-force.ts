import type { ExpressionBuilder, Kysely, Selectable } from 'kysely';
import type { ControlPausesTable, Schema } from '../store/schema.ts';
import { ALL_SYMBOLS, PAUSE_SCOPES, targetsOf, type Pause, type PauseScope } from './state.ts';

/** A `control_pauses` row as a Pause. */
export const pauseFrom = (r: Selectable<ControlPausesTable>): Pause => ({
  symbol: r.symbol,
  scope: r.scope as PauseScope,
  reason: r.reason,
  by: r.by_who,
  since: Number(r.since),
  until: r.until === null ? null : Number(r.until),
  abort: Number(r.abort) === 1,
  auditId: Number(r.audit_id),
  ...(r.guard === null ? {} : { guard: r.guard }),
  ...(Number(r.begun) === 1 ? {} : { begun: false }),
});

/** A pause in force at `at` (not a window planned for later): begun, or its start has come. */
export const inForce = (at: number) => (eb: ExpressionBuilder<Schema, 'control_pauses'>) => eb.or([eb('begun', '=', 1), eb('since', '<=', at)]);

/**
 * The pauses in force at `t`, read from the database (those that hold the job `symbol` at `timeframe`, or every one):
 * what a late send and a retry ask before they leave. A pause holds at t iff `since <= t and (until is null or t < until)`.
 */
export async function pausesInForce(db: Kysely<Schema>, t: number, symbol?: string, timeframe?: string): Promise<Pause[]> {
  let q = db
    .selectFrom('control_pauses')
    .selectAll()
    .where('since', '<=', t)
    .where((eb) => eb.or([eb('until', 'is', null), eb('until', '>', t)]));
  if (symbol !== undefined && symbol !== ALL_SYMBOLS) q = q.where('symbol', 'in', targetsOf(symbol, timeframe));
  const rows = await q.orderBy('audit_id').execute();
  return rows.filter((r) => (PAUSE_SCOPES as readonly string[]).includes(r.scope)).map(pauseFrom);
}

