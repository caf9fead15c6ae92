import type { Kysely } from 'kysely';

/**
 * `reschedule` naming jobs (issue 23 §2): `control_schedule` held one row (id 1), the pattern over every job. A row
 * may now name the jobs it moves, as a pause does (control/state.ts targetOf: `BTC/USDT`, `BTC/USDT@5m`, `*@5m`);
 * null is every job (row 1, as before). An older agent reads only row 1, so it keeps following the pattern for all.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('control_schedule').addColumn('target', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('control_schedule').dropColumn('target').execute();
}
