import type { Kysely } from 'kysely';
import { autoId } from './id-column.ts';

/** Cycles and attempts, with the unique key that claims a slot. */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('cycles')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('symbol', 'text', (c) => c.notNull())
    .addColumn('timeframe', 'text', (c) => c.notNull())
    .addColumn('trigger', 'text', (c) => c.notNull())
    .addColumn('scheduled_at', 'bigint', (c) => c.notNull())
    .addColumn('deadline_at', 'bigint', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reason', 'text')
    .addColumn('error', 'text')
    .addColumn('http_status', 'integer')
    .addColumn('summary', 'text')
    .addColumn('executed', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('idempotency_key', 'text', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull())
    .execute();
  // The slot claim: a second agent's insert of the same slot does nothing, so it never fires.
  await db.schema.createIndex('cycles_slot').on('cycles').columns(['symbol', 'timeframe', 'trigger', 'scheduled_at']).unique().execute();
  await db.schema.createIndex('cycles_scheduled_at').on('cycles').column('scheduled_at').execute();
  await db.schema.createIndex('cycles_status').on('cycles').columns(['status', 'scheduled_at']).execute();

  await db.schema
    .createTable('attempts')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('cycle_id', 'integer', (c) => c.notNull().references('cycles.id').onDelete('cascade'))
    .addColumn('number', 'integer', (c) => c.notNull())
    .addColumn('request_id', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('finished_at', 'bigint')
    .addColumn('duration_ms', 'integer')
    .addColumn('outcome', 'text')
    .addColumn('http_status', 'integer')
    .addColumn('error', 'text')
    .addColumn('response_excerpt', 'text')
    .execute();
  await db.schema.createIndex('attempts_cycle').on('attempts').columns(['cycle_id', 'number']).unique().execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('attempts').execute();
  await db.schema.dropTable('cycles').execute();
}
