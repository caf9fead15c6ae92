import type { Kysely } from 'kysely';
import type { Schema } from '../schema.ts';
import { whereStatus } from './status-filter.ts';

// Reads of the `cycles` table that commands make directly (the reports have their own queries in reports/).

/** The oldest slot with a row (an index lookup), or undefined on an empty history: where `stats --window all` starts. */
export async function oldestSlot(db: Kysely<Schema>): Promise<number | undefined> {
  const first = await db.selectFrom('cycles').select((eb) => eb.fn.min('scheduled_at').as('first')).executeTakeFirst();
  return first?.first == null ? undefined : Number(first.first);
}

/** The cycles in flight (status `running`), oldest slot first. */
export async function runningCycles(db: Kysely<Schema>): Promise<{ id: number; symbol: string; owner: string; scheduledAt: number }[]> {
  const rows = await whereStatus(db.selectFrom('cycles').select(['id', 'symbol', 'owner', 'scheduled_at']), 'running').orderBy('scheduled_at').execute();
  return rows.map((r) => ({ id: Number(r.id), symbol: r.symbol, owner: r.owner, scheduledAt: Number(r.scheduled_at) }));
}
