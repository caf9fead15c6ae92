import { sql, type Kysely } from 'kysely';

/**
 * When the agent was ready to fire (Diego and Miguel answered its readiness wait, or it had none to do): null while
 * it still waits, so `healthcheck` can say "waiting for Diego" instead of healthy. Rows written before this
 * migration are taken as ready from their start.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('ready_at', 'bigint').execute();
  await sql`update agents set ready_at = started_at`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('agents').dropColumn('ready_at').execute();
}
