import { sql, type Kysely } from 'kysely';

/**
 * Fewer, leaner indexes, so a year of every-minute history stays well under 200 MB (issue #3): five indexes took
 * ~170 bytes a cycle, these two ~40.
 * - The slot's unique key now leads with the time: it claims the slot as before (the key is the same set of
 *   columns), and it also serves what `cycles_scheduled_at` and `cycles_symbol_time` did (newest rows, a window of
 *   time; a symbol's rows are read off it newest first).
 * - A partial index holds only the cycles that did not succeed (a few percent of rows): `history --status failed`,
 *   the last failure, the failure streak, the running cycles whose leases are renewed. Queries state its condition
 *   (src/store/history/status-filter.ts), which SQLite needs to see verbatim before it uses a partial index.
 * The new key is created before the old indexes are dropped (SQLite runs migrations outside a transaction), and each
 * step may run again after a crash part-way.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('cycles_slot_time').ifNotExists().on('cycles').columns(['scheduled_at', 'symbol', 'timeframe', 'trigger']).unique().execute();
  await db.schema.createIndex('cycles_unsettled').ifNotExists().on('cycles').columns(['status', 'scheduled_at']).where(sql.ref('status'), '<>', 'succeeded').execute();
  for (const old of ['cycles_slot', 'cycles_scheduled_at', 'cycles_status', 'cycles_symbol_time', 'cycles_symbol_status']) {
    await db.schema.dropIndex(old).ifExists().execute();
  }
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.createIndex('cycles_slot').ifNotExists().on('cycles').columns(['symbol', 'timeframe', 'trigger', 'scheduled_at']).unique().execute();
  await db.schema.createIndex('cycles_scheduled_at').ifNotExists().on('cycles').column('scheduled_at').execute();
  await db.schema.createIndex('cycles_status').ifNotExists().on('cycles').columns(['status', 'scheduled_at']).execute();
  await db.schema.createIndex('cycles_symbol_time').ifNotExists().on('cycles').columns(['symbol', 'scheduled_at']).execute();
  await db.schema.createIndex('cycles_symbol_status').ifNotExists().on('cycles').columns(['symbol', 'status', 'scheduled_at']).execute();
  await db.schema.dropIndex('cycles_unsettled').ifExists().execute();
  await db.schema.dropIndex('cycles_slot_time').ifExists().execute();
}
