import type { Kysely } from 'kysely';

/**
 * A wall clock that went back (issue #24, item 9): the agent fires nothing until the slot after the last one it fired
 * (no slot twice), and says so on its row, so `healthcheck` and `status` can tell "not firing until T (the clock went
 * back N s)" instead of "healthy" and "Firing". Null: firing as usual.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('held_until', 'bigint').execute();
  await db.schema.alterTable('agents').addColumn('held_back_ms', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const c of ['held_until', 'held_back_ms']) await db.schema.alterTable('agents').dropColumn(c).execute();
}
