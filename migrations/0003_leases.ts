import type { Kysely } from 'kysely';

/**
 * The lease of a running cycle (high availability): its owner (`cycles.owner`, the replica id) pushes
 * `lease_until` forward while the cycle runs, so once it has passed, any replica may mark the cycle `interrupted`.
 * Null on rows written before this migration and on rows that never ran (`skipped`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('cycles').addColumn('lease_until', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('cycles').dropColumn('lease_until').execute();
}
