import type { Kysely, Selectable } from 'kysely';
import type { AttemptsTable, CyclesTable, Schema } from '../../src/store/schema.ts';

export type CycleRow = Selectable<CyclesTable>;
export type AttemptRow = Selectable<AttemptsTable>;

/** Every cycle row, oldest slot first (ties by id). */
export function cycleRows(db: Kysely<Schema>): Promise<CycleRow[]> {
  return db.selectFrom('cycles').selectAll().orderBy('scheduled_at').orderBy('id').execute();
}

/** Attempt rows, by cycle then number; only one cycle's when `cycleId` is given. */
export function attemptRows(db: Kysely<Schema>, cycleId?: number): Promise<AttemptRow[]> {
  let q = db.selectFrom('attempts').selectAll();
  if (cycleId !== undefined) q = q.where('cycle_id', '=', cycleId);
  return q.orderBy('cycle_id').orderBy('number').execute();
}
