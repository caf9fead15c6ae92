import { sql, type Kysely } from 'kysely';

/**
 * Guard rails and planned windows (issue 22 §2). `control_pauses` may now hold several rows of one symbol and scope: a
 * person's pause, a guard's (`guard` names it: `orders_cap`, `failures`, `exchange`) and windows planned ahead
 * (`since` in the future, `begun` 0 until an agent audits their start). Each row is made by one audit action, so
 * `audit_id` is its key. A guard holds at most one row per symbol and scope (a unique index): two replicas reaching a
 * cap at once write it once. `cycles.execution_failed`: Diego's answer said the order it tried failed.
 *
 * SQLite cannot drop a primary key, so the table is rebuilt (the same on PostgreSQL, one path for both).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('control_pauses_next')
    .addColumn('symbol', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('by_who', 'text', (c) => c.notNull())
    .addColumn('since', 'bigint', (c) => c.notNull())
    .addColumn('until', 'bigint')
    .addColumn('abort', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('audit_id', 'integer', (c) => c.primaryKey())
    // Null: a person's pause (or window); else the guard that wrote it.
    .addColumn('guard', 'text')
    // 0: a planned window whose start no agent has audited yet.
    .addColumn('begun', 'integer', (c) => c.notNull().defaultTo(1))
    .execute();
  await sql`insert into control_pauses_next (symbol, scope, reason, by_who, since, until, abort, audit_id, begun)
    select symbol, scope, reason, by_who, since, until, abort, audit_id, 1 from control_pauses`.execute(db);
  await db.schema.dropTable('control_pauses').execute();
  await db.schema.alterTable('control_pauses_next').renameTo('control_pauses').execute();
  await sql`create unique index control_pauses_guard on control_pauses (guard, symbol, scope) where guard is not null`.execute(db);
  await db.schema.createIndex('control_pauses_scope').on('control_pauses').columns(['scope', 'symbol']).execute();
  await db.schema.alterTable('cycles').addColumn('execution_failed', 'integer', (c) => c.notNull().defaultTo(0)).execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('cycles').dropColumn('execution_failed').execute();
  await db.schema.dropIndex('control_pauses_guard').execute();
  await db.schema.dropIndex('control_pauses_scope').execute();
  await db.schema.alterTable('control_pauses').dropColumn('guard').execute();
  await db.schema.alterTable('control_pauses').dropColumn('begun').execute();
}
