import pg from 'pg';
import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import { errorLine } from '../../log/error-line.ts';
import { redactUrlValue } from '../../log/redact.ts';
import { migrate } from '../migrate.ts';
import { DatabaseOpenError, type Database, type OpenOptions } from '../port.ts';
import type { Schema } from '../schema.ts';
import { isPostgresUnavailable, missingColumn, otherSchemaGone } from './faults.ts';
import { POSTGRES_TRAITS } from './traits.ts';
import { listenForControl } from './listen.ts';

/** Connections an agent keeps: a claim per symbol at a slot, the upkeep loops, the stats summary. */
const AGENT_POOL_SIZE = 4;
/** Connections a report (history, stats, healthcheck) uses: a few queries at once. */
const READER_POOL_SIZE = 2;
/** How long opening a connection may take before the attempt counts as the server being unreachable. */
export const CONNECT_TIMEOUT_MS = 3000;
/**
 * How long a query may take before it is abandoned: a claim or a record that hangs on a half-open connection (a
 * network partition sends no reset) fails instead of holding a slot forever.
 */
export const QUERY_TIMEOUT_MS = 10_000;
/** Idle time before TCP keepalive probes a connection. */
const KEEPALIVE_DELAY_MS = 10_000;

// int8 (count(*), sum(integer), bigint columns: our epoch-ms times) and numeric (sum(bigint)) come back from pg as
// strings, since they can exceed 2^53; ours never do (times in ms, counts), and SQLite gives numbers: parse them.
const INT8_OID = 20;
const NUMERIC_OID = 1700;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID || oid === NUMERIC_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/**
 * Opens a PostgreSQL database through kysely's PostgresDialect and a `pg` pool, checks that it answers, and for a
 * writer runs the migrations (the same ones as SQLite) in the connection's current schema, so that
 * `options=-c search_path=…` in the URL picks the schema. Readers get read-only sessions. A server that does not
 * answer is a DatabaseOpenError of kind `unreachable` (the agent waits and retries; reports give up).
 */
export async function openPostgres(url: string, opts: OpenOptions = {}): Promise<Database> {
  const readonly = opts.readonly ?? false;
  const location = redactUrlValue(url);
  const connection: pg.ClientConfig = {
    connectionString: url,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    // The OS default waits two hours before its first probe: a partitioned server is found within a minute or so.
    keepAliveInitialDelayMillis: KEEPALIVE_DELAY_MS,
    application_name: 'pmf-scheduler',
    types,
  };
  const pool = new pg.Pool({ ...connection, max: readonly ? READER_POOL_SIZE : AGENT_POOL_SIZE });
  // A connection that the server drops (a restart, a failover) emits 'error', and without a listener the process
  // would crash: the pool listens on its idle connections, and this listener covers one that is checked out between
  // two queries (a transaction awaiting, kysely about to send), where pg removes the pool's. Nothing to do: the query
  // on it fails and says so, the pool drops it, and the next query opens a new connection or meets the outage.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const db = new Kysely<Schema>({
    dialect: new PostgresDialect({
      pool,
      onCreateConnection: readonly ? (c) => c.executeQuery(CompiledQuery.raw('SET default_transaction_read_only = on')).then(() => {}) : undefined,
    }),
  });
  const close = () => db.destroy();
  let schema: string | null | undefined;
  try {
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
    schema = rows[0]?.schema;
    if (schema == null) throw new DatabaseOpenError('not_writable', `PostgreSQL database ${location} has no schema to use: create the one named by search_path, or grant CREATE on public`);
    if (!readonly) await migrateRacingDrops(db, location, schema);
  } catch (err) {
    await close().catch(() => {});
    if (err instanceof DatabaseOpenError) {
      if (err.kind === 'migration' && isPostgresUnavailable(err.cause)) throw new DatabaseOpenError('unreachable', err.message, err.cause);
      throw err;
    }
    // A report names a database that is not there: the same answer as for a missing SQLite file. (The agent waits for
    // it instead: a server being provisioned creates its database after it starts listening.)
    if (readonly && (err as { code?: unknown }).code === '3D000') throw new DatabaseOpenError('missing', `Database ${location} does not exist (set DATABASE_URL or --db)`, err);
    if (isPostgresUnavailable(err)) throw new DatabaseOpenError('unreachable', `Cannot reach PostgreSQL at ${location}: ${errorLine(err)}`, err);
    throw new DatabaseOpenError('not_database', `Cannot use PostgreSQL database ${location}: ${errorLine(err)}`, err);
  }
  const listening = schema!;
  return { db, location, traits: POSTGRES_TRAITS, close, controlChanges: (events, clock) => listenForControl(connection, listening, events, clock) };
}

/**
 * Migrates, trying again when another schema of the same database was dropped while kysely looked: its migrator
 * checks for its tables with PostgresIntrospector.getTables, which reads every schema's catalog and calls
 * has_schema_privilege() and pg_get_serial_sequence() per column, and those throw 3F000 (invalid_schema_name) for a
 * schema dropped mid-query, 42P01 (undefined_table) for one of its relations, a view's included, or 42703
 * (undefined_column, naming no schema) for a column of one (kysely/dist/dialect/postgres/postgres-introspector.js).
 * Another schema's name in the error, or a column ours cannot be missing, means nothing is wrong with ours.
 */
async function migrateRacingDrops(db: Kysely<Schema>, location: string, schema: string): Promise<void> {
  for (let tries = 1; ; tries++) {
    try {
      await migrate(db, location, { tableSchema: schema });
      return;
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause;
      const elsewhere = otherSchemaGone(cause, schema) !== undefined || (await columnElsewhere(db, cause));
      if (!elsewhere || tries >= 5) throw err;
    }
  }
}

/**
 * Whether a missing column (missingColumn: it names no schema) belongs to another schema: unless ours has that
 * relation without that column, it cannot be ours. False for any other error, or when the check itself fails.
 */
export async function columnElsewhere(db: Kysely<Schema>, err: unknown): Promise<boolean> {
  const named = missingColumn(err);
  if (!named) return false;
  const found = await sql<{ has: boolean | null }>`
    select bool_or(a.attname = ${named.column}) as has from pg_attribute a
    join pg_class c on c.oid = a.attrelid join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = current_schema() and c.relname = ${named.relation} and a.attnum > 0 and not a.attisdropped`
    .execute(db)
    .catch(() => undefined);
  return found !== undefined && found.rows[0]?.has !== false;
}
