import pg from 'pg';
import { CompiledQuery, Kysely, PostgresDialect, sql } from 'kysely';
import { errorText } from '../error-text.ts';
import { redactUrl } from '../redact.ts';
import { DatabaseOpenError, migrate, type BackendTraits, type Database, type OpenOptions } from './database.ts';
import type { Schema } from './schema.ts';

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

// SQLSTATEs meaning "the server cannot serve us now": class 08 (connection exception) and 53 (insufficient resources,
// e.g. too many connections), shutdown and start-up (57P01-57P03), a read-only standby (25006), authentication and a
// missing database (28xxx, 3D000: while a fresh server is still being provisioned).
const UNAVAILABLE_SQLSTATE = /^(08|53|57P0[1-3]|25006|28|3D000)/;
const UNAVAILABLE_NETWORK = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE', 'ECONNABORTED']);
// pg's own errors when a connection drops or times out carry no code.
const UNAVAILABLE_MESSAGE = /Connection terminated|timeout exceeded when trying to connect|Query read timeout|not queryable|Client was closed|connection error/i;

/** Whether a PostgreSQL error means the server is unreachable or cannot take writes for now (rather than a bug). */
export function isPostgresUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; errors?: unknown } | null;
  // A host name with several addresses fails with an AggregateError of one error per address.
  if (Array.isArray(e?.errors) && e.errors.length > 0) return e.errors.every(isPostgresUnavailable);
  const code = typeof e?.code === 'string' ? e.code : '';
  if (UNAVAILABLE_NETWORK.has(code) || UNAVAILABLE_SQLSTATE.test(code)) return true;
  return code === '' && typeof e?.message === 'string' && UNAVAILABLE_MESSAGE.test(e.message);
}

/** PostgreSQL, shared by replicas: exactly once across them, so no claim means no fire. */
export const POSTGRES_TRAITS: BackendTraits = {
  claimMustSucceed: true,
  startupOncePerInterval: true,
  isUnavailable: isPostgresUnavailable,
  // SHARE ROW EXCLUSIVE conflicts with every insert, update and delete (ROW EXCLUSIVE) and with itself, and waits
  // for the writes already under way: the startup claim's check then sees every claim committed before it, and
  // no claim can commit between its check and its insert. Held for one statement; other replicas wait a few ms.
  lockForStartupClaim: async (tx) => {
    await sql`LOCK TABLE cycles IN SHARE ROW EXCLUSIVE MODE`.execute(tx);
  },
  freedSpace: "PostgreSQL's autovacuum makes the space reusable",
};

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
  const location = redactUrl(url);
  const pool = new pg.Pool({
    connectionString: url,
    max: readonly ? READER_POOL_SIZE : AGENT_POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    query_timeout: QUERY_TIMEOUT_MS,
    keepAlive: true,
    application_name: 'pmf-scheduler',
    types,
  });
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
  try {
    const { rows } = await sql<{ schema: string | null }>`select current_schema() as schema`.execute(db);
    const schema = rows[0]?.schema;
    if (schema == null) throw new DatabaseOpenError('not_writable', `PostgreSQL database ${location} has no schema to use: create the one named by search_path, or grant CREATE on public`);
    if (!readonly) await migrate(db, location, schema);
  } catch (err) {
    await close().catch(() => {});
    if (err instanceof DatabaseOpenError) {
      if (err.kind === 'migration' && isPostgresUnavailable(err.cause)) throw new DatabaseOpenError('unreachable', err.message, err.cause);
      throw err;
    }
    // A report names a database that is not there: the same answer as for a missing SQLite file. (The agent waits for
    // it instead: a server being provisioned creates its database after it starts listening.)
    if (readonly && (err as { code?: unknown }).code === '3D000') throw new DatabaseOpenError('missing', `Database ${location} does not exist (set DATABASE_URL or --db)`, err);
    if (isPostgresUnavailable(err)) throw new DatabaseOpenError('unreachable', `Cannot reach PostgreSQL at ${location}: ${errorText(err)}`, err);
    throw new DatabaseOpenError('not_database', `Cannot use PostgreSQL database ${location}: ${errorText(err)}`, err);
  }
  return { db, location, traits: POSTGRES_TRAITS, close };
}
