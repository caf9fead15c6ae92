import type { Kysely } from 'kysely';
import type { NewAttempt, NewCycle } from '../port.ts';
import type { Schema } from '../schema.ts';

// What a side file's replay (journal/side-file.ts) asks of the history beside the port's writes: whether a kept
// write was already written by the flush before the kill. Idempotency keys and request ids tell ours apart.

/** The id of the slot's row when it is this claim's own (same slot, same Idempotency-Key), else undefined. */
export async function ownClaimId(db: Kysely<Schema>, c: NewCycle): Promise<number | undefined> {
  const row = await db
    .selectFrom('cycles')
    .select(['id', 'idempotency_key'])
    .where('symbol', '=', c.symbol)
    .where('timeframe', '=', c.timeframe)
    .where('trigger', '=', c.trigger)
    .where('scheduled_at', '=', c.scheduledAt)
    .executeTakeFirst();
  return row?.idempotency_key === c.idempotencyKey ? row.id : undefined;
}

/** The id of the attempt already written for `a` in cycle `cycleId` (same number, same request id), else undefined. */
export async function writtenAttemptId(db: Kysely<Schema>, cycleId: number, a: Pick<NewAttempt, 'number' | 'requestId'>): Promise<number | undefined> {
  const row = await db.selectFrom('attempts').select(['id', 'request_id']).where('cycle_id', '=', cycleId).where('number', '=', a.number).executeTakeFirst();
  return row?.request_id === a.requestId ? row.id : undefined;
}
