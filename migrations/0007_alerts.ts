import type { Kysely } from 'kysely';
import { autoId } from './id-column.ts';

/**
 * Alerts (issue #13): the notification outbox, and each agent's last clock check.
 *
 * A notification is inserted in the same transaction as the record that caused it (a cycle's end), one row per
 * channel, and delivered by a separate loop: it survives a crash between the record and the delivery, and with
 * replicas the row's claim makes each delivery happen once. `dedupe_key` makes "one `failing` per outage" hold even
 * when two replicas see the same streak. `channel` names a configured channel by a digest of its URL (never the URL:
 * webhook URLs hold tokens).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('notifications')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('event', 'text', (c) => c.notNull())
    .addColumn('severity', 'text', (c) => c.notNull())
    .addColumn('symbol', 'text')
    .addColumn('channel', 'text', (c) => c.notNull())
    .addColumn('dedupe_key', 'text')
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at', 'bigint', (c) => c.notNull())
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('next_at', 'bigint', (c) => c.notNull())
    .addColumn('last_error', 'text')
    .addColumn('sent_at', 'bigint')
    .addColumn('claimed_by', 'text')
    .addColumn('claimed_until', 'bigint')
    .execute();
  await db.schema.createIndex('notifications_dedupe').on('notifications').columns(['dedupe_key', 'channel']).unique().execute();
  await db.schema.createIndex('notifications_due').on('notifications').columns(['state', 'next_at']).execute();
  await db.schema.alterTable('agents').addColumn('clock_offset_ms', 'double precision').execute();
  await db.schema.alterTable('agents').addColumn('clock_rtt_ms', 'double precision').execute();
  await db.schema.alterTable('agents').addColumn('clock_checked_at', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('notifications').execute();
  for (const c of ['clock_offset_ms', 'clock_rtt_ms', 'clock_checked_at']) await db.schema.alterTable('agents').dropColumn(c).execute();
}
