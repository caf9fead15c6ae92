import type { Kysely } from 'kysely';

/**
 * The exchange's clock as each agent last read it (issue 23 §1, EXCHANGE_TIME_URL): its offset (how far ahead of
 * ours) and round trip in ms, when, and the clock its slots fire on (`local`, `exchange`, or `fallback`: FIRE_CLOCK
 * is exchange but its clock could not be read), for `status` and `next`. Null: no EXCHANGE_TIME_URL, or not read yet.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('exchange_offset_ms', 'double precision').execute();
  await db.schema.alterTable('agents').addColumn('exchange_rtt_ms', 'double precision').execute();
  await db.schema.alterTable('agents').addColumn('exchange_checked_at', 'bigint').execute();
  await db.schema.alterTable('agents').addColumn('fire_clock', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const c of ['exchange_offset_ms', 'exchange_rtt_ms', 'exchange_checked_at', 'fire_clock']) await db.schema.alterTable('agents').dropColumn(c).execute();
}
