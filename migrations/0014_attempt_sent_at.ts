import type { Kysely } from 'kysely';

/**
 * When each request actually left (issue 24 item 12): the clock read right after the request was handed to the HTTP
 * client, written with the attempt's finish (no extra write on the hot path). `stats` measures fire lateness from the
 * first attempt's send time; rows written before this migration have none and are left out of it rather than
 * counted as on time.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('attempts').addColumn('sent_at', 'bigint').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('attempts').dropColumn('sent_at').execute();
}
