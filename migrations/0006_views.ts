import { PostgresAdapter, sql, type Kysely, type RawBuilder } from 'kysely';

/**
 * Read-only views for operators' own SQL (`sqlite3`, `psql`): `cycles_v` and `attempts_v`, the tables' columns with
 * the UUIDs as text (SQLite keeps them as 16-byte blobs, issue 3) and the epoch-ms times as ISO 8601 UTC with
 * milliseconds, so `WHERE idempotency_key = '…'` finds a row and a time reads as one. Same names and columns on
 * both backends; nothing in the agent reads them.
 */
export async function up(db: Kysely<any>): Promise<void> {
  const pg = db.getExecutor().adapter instanceof PostgresAdapter;
  const iso = (column: string): RawBuilder<unknown> => (pg ? isoPostgres(column) : isoSqlite(column));
  const uuid = (column: string): RawBuilder<unknown> => (pg ? sql.ref(column) : uuidSqlite(column)) as RawBuilder<unknown>;
  await db.schema
    .createView('cycles_v')
    .as(
      db
        .selectFrom('cycles')
        .select(['id', 'symbol', 'timeframe', 'trigger'])
        .select([iso('scheduled_at').as('scheduled_at'), iso('deadline_at').as('deadline_at'), iso('started_at').as('started_at'), iso('finished_at').as('finished_at')])
        .select(['status', 'attempts', 'reason', 'error', 'http_status', 'summary', 'executed'])
        .select([uuid('idempotency_key').as('idempotency_key'), 'owner', iso('lease_until').as('lease_until')]),
    )
    .execute();
  await db.schema
    .createView('attempts_v')
    .as(
      db
        .selectFrom('attempts')
        .select(['id', 'cycle_id', 'number', uuid('request_id').as('request_id'), iso('started_at').as('started_at'), iso('finished_at').as('finished_at')])
        .select(['duration_ms', 'outcome', 'http_status', 'error', 'response_excerpt']),
    )
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropView('attempts_v').ifExists().execute();
  await db.schema.dropView('cycles_v').ifExists().execute();
}

// Whole seconds formatted, then the milliseconds by integer arithmetic: exact, where a division by 1000.0 in
// floating point could print .122 for .123. NULL stays NULL (a running cycle's finished_at).
function isoSqlite(column: string): RawBuilder<unknown> {
  const c = sql.ref(column);
  return sql`strftime('%Y-%m-%dT%H:%M:%S', ${c} / 1000, 'unixepoch') || '.' || substr('00' || (${c} % 1000), -3) || 'Z'`;
}

function isoPostgres(column: string): RawBuilder<unknown> {
  const c = sql.ref(column);
  return sql`to_char(to_timestamp(${c} / 1000) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS') || '.' || lpad((${c} % 1000)::text, 3, '0') || 'Z'`;
}

// A 16-byte blob as the canonical lowercase UUID (sqlite/uuid-blobs.ts writes them); any other value as it is.
function uuidSqlite(column: string): RawBuilder<unknown> {
  const c = sql.ref(column);
  const h = sql`lower(hex(${c}))`;
  return sql`case when typeof(${c}) = 'blob' and length(${c}) = 16 then substr(${h}, 1, 8) || '-' || substr(${h}, 9, 4) || '-' || substr(${h}, 13, 4) || '-' || substr(${h}, 17, 4) || '-' || substr(${h}, 21) else ${c} end`;
}
