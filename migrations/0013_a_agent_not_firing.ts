import type { Kysely } from 'kysely';

/**
 * Why an agent alive does not fire (issue 24): `disabled` (ENABLE_SCHEDULER=false), or the clock (its offset above
 * CLOCK_SKEW_MAX_MS); null: it fires (once ready, `ready_at`). `status` tells the truth from it, and `trigger` is
 * refused when no agent alive can take a run-now request.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('agents').addColumn('not_firing', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('agents').dropColumn('not_firing').execute();
}
