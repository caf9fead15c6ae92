import type { Kysely } from 'kysely';

/**
 * The cycle's W3C trace id (issue 23 §4): every attempt sends it in its `traceparent` header, so Diego's and
 * Miguel's logs join the cycle that caused them; `history --cycle` and the cycle's JSON log lines show it. 32
 * lowercase hex digits; null on rows written before this migration and on slots recorded without a request.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('cycles').addColumn('trace_id', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('cycles').dropColumn('trace_id').execute();
}
