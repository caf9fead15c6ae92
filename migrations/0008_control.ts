import type { Kysely } from 'kysely';
import { autoId } from './id-column.ts';

/**
 * Live control (issue #12): the database the agents already share is the control plane, since the agent opens no
 * port. `control_version` is one row every change bumps first (so concurrent changes serialize on it and an agent
 * notices any change by reading one number); `control_pauses` and `control_schedule` are the state in force;
 * `control_triggers` the run-now requests; `control_audit` every action, in order; `control_applied` when each agent applied it. `cycles.execution_off` says why a cycle was sent with
 * `triggerExecution: false` (null: execution as configured).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('control_version')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('version', 'bigint', (c) => c.notNull())
    .execute();
  await db.insertInto('control_version').values({ id: 1, version: 0 }).execute();

  await db.schema
    .createTable('control_pauses')
    // `*`: every symbol.
    .addColumn('symbol', 'text', (c) => c.notNull())
    // `cycles`: nothing fires; `execution`: cycles fire with triggerExecution false.
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('by_who', 'text', (c) => c.notNull())
    .addColumn('since', 'bigint', (c) => c.notNull())
    .addColumn('until', 'bigint')
    // `pause --abort`: the cycles in flight when the agents apply it are cut (`interrupted`, reason `paused`).
    .addColumn('abort', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('audit_id', 'integer', (c) => c.notNull())
    .addPrimaryKeyConstraint('control_pauses_key', ['symbol', 'scope'])
    .execute();

  await db.schema
    .createTable('control_audit')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('version', 'bigint', (c) => c.notNull())
    .addColumn('at', 'bigint', (c) => c.notNull())
    .addColumn('action', 'text', (c) => c.notNull())
    .addColumn('symbol', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    // The arguments as given, as a JSON object.
    .addColumn('args', 'text', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addColumn('by_who', 'text', (c) => c.notNull())
    .execute();
  await db.schema.createIndex('control_audit_at').on('control_audit').column('at').execute();

  // `reschedule`: at most one row (id 1), the pattern that overrides CRON_PATTERN; none: the environment's.
  await db.schema
    .createTable('control_schedule')
    .addColumn('id', 'integer', (c) => c.primaryKey())
    .addColumn('pattern', 'text', (c) => c.notNull())
    .addColumn('reason', 'text', (c) => c.notNull())
    .addColumn('by_who', 'text', (c) => c.notNull())
    .addColumn('since', 'bigint', (c) => c.notNull())
    .addColumn('audit_id', 'integer', (c) => c.notNull())
    .execute();

  // `trigger` (run now): one row per request; the one agent whose update takes it (`pending` → `taken`) fires it.
  await db.schema
    .createTable('control_triggers')
    .addColumn('id', 'integer', autoId(db))
    .addColumn('symbol', 'text', (c) => c.notNull())
    .addColumn('requested_at', 'bigint', (c) => c.notNull())
    // Not taken by then: `expired`, never fired late.
    .addColumn('expires_at', 'bigint', (c) => c.notNull())
    .addColumn('audit_id', 'integer', (c) => c.notNull())
    // `pending`, `taken` or `expired`.
    .addColumn('state', 'text', (c) => c.notNull())
    .addColumn('taken_by', 'text')
    // The `scheduled_at` of the manual cycles it fired.
    .addColumn('slot', 'bigint')
    .execute();
  await db.schema.createIndex('control_triggers_state').on('control_triggers').columns(['state', 'id']).execute();

  await db.schema
    .createTable('control_applied')
    .addColumn('audit_id', 'integer', (c) => c.notNull())
    .addColumn('owner', 'text', (c) => c.notNull())
    .addColumn('applied_at', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('control_applied_key', ['audit_id', 'owner'])
    .execute();

  await db.schema.alterTable('cycles').addColumn('execution_off', 'text').execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.alterTable('cycles').dropColumn('execution_off').execute();
  for (const t of ['control_applied', 'control_triggers', 'control_schedule', 'control_audit', 'control_pauses', 'control_version']) await db.schema.dropTable(t).execute();
}
