import { sql, type WhereInterface } from 'kysely';
import type { CycleStatus } from '../../records.ts';
import type { Schema } from '../schema.ts';

/**
 * Cycles of one status. For any status but `succeeded`, the condition of the partial index `cycles_unsettled`
 * (migration 0004: the few cycles that did not succeed) is stated too, word for word with a literal: SQLite uses a
 * partial index only for a query that states its condition. Succeeded cycles are most rows: the time index finds
 * the newest of them at once.
 */
export function whereStatus<Q extends WhereInterface<Schema, 'cycles'>>(q: Q, status: CycleStatus): Q {
  const filtered = q.where('status', '=', status) as Q;
  return status === 'succeeded' ? filtered : (filtered.where('status', '<>', sql.lit('succeeded')) as Q);
}
