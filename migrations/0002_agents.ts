import type { Kysely } from 'kysely';
import { autoId } from './id-column.ts';

/**
 * The agents' heartbeats (for `healthcheck`), and the indexes the history and stats queries need on a large
 * history (measured with `npm run bench:queries` on 1,000,000 attempts).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('agents')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('host', 'text', (c) => c.notNull())
    .addColumn('pid', 'integer', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    // What the agent was told to run, so `stats` counts missed slots against the pattern actually in use.
    .addColumn('cron_pattern', 'text', (c) => c.notNull())
    .addColumn('symbols', 'text', (c) => c.notNull())
    .addColumn('started_at', 'bigint', (c) => c.notNull())
    .addColumn('heartbeat_at', 'bigint', (c) => c.notNull())
    .addColumn('stopped_at', 'bigint')
    .execute();
  await db.schema.createIndex('agents_started_at').on('agents').column('started_at').execute();

  // `history --symbol`, missed slots and the first slot of a symbol: newest or oldest rows of one symbol.
  await db.schema.createIndex('cycles_symbol_time').on('cycles').columns(['symbol', 'scheduled_at']).execute();
  // Last success / last failure and the failure streak of one symbol; `history --symbol --status`.
  await db.schema.createIndex('cycles_symbol_status').on('cycles').columns(['symbol', 'status', 'scheduled_at']).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropIndex('cycles_symbol_status').execute();
  await db.schema.dropIndex('cycles_symbol_time').execute();
  await db.schema.dropTable('agents').execute();
}
