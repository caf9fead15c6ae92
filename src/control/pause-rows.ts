import type { ExpressionBuilder, Selectable } from 'kysely';
import type { ControlPausesTable, Schema } from '../store/schema.ts';
import type { Pause, PauseScope } from './state.ts';

/** A `control_pauses` row as the pause it is. */
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

