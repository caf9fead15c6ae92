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

// The connection died after a statement may have reached the server: a session the server ended (57P01 a fast
// shutdown, 57P02 a crash; it commits, then cuts the session before answering), a connection lost or reset mid-query,
// 08007 (transaction resolution unknown), and pg's own words for a socket closed under a query or a query that timed
// out on our side (the server may still run it). A refused or timed-out connect, and any answer from the server,
// mean the statement never ran or certainly failed.
const IN_DOUBT_SQLSTATE = /^(57P01|57P02|08003|08006|08007)$/;
const IN_DOUBT_NETWORK = new Set(['ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ECONNABORTED']);
const IN_DOUBT_MESSAGE = /Connection terminated(?! due to connection timeout)|Query read timeout/i;

/** Whether a write that failed with `err` may have been committed all the same (BackendTraits.mayHaveCommitted). */
export function postgresMayHaveCommitted(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  if (IN_DOUBT_NETWORK.has(code) || IN_DOUBT_SQLSTATE.test(code)) return true;
  return code === '' && typeof e?.message === 'string' && IN_DOUBT_MESSAGE.test(e.message);
}

/**
 * The column and relation a 42703 (undefined_column) names as pg_get_serial_sequence() words it, with no schema:
 * kysely's introspection meets it when a table of another schema goes mid-query. Undefined: another error.
 */
export function missingColumn(err: unknown): { column: string; relation: string } | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  const m = e?.code === '42703' && typeof e.message === 'string' ? /^column "([^"]+)" of relation "([^"]+)" does not exist$/.exec(e.message) : null;
  return m ? { column: m[1]!, relation: m[2]! } : undefined;
}

/** A query that met a database without our tables (undefined_table): not ours, or a schema older than this version. */
export const isPostgresMissingTable = (err: unknown): boolean => (err as { code?: unknown } | null)?.code === '42P01';

/**
 * The schema other than `ours` that an error says is gone, mid-query: 3F000 names it (`schema "x" does not exist`),
 * 42P01 names a relation of it (`relation "x.attempts_v" does not exist`). Undefined: ours, unnamed, or another error.
 */
export function otherSchemaGone(err: unknown, ours: string): string | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : '';
  const named = e?.code === '3F000' ? /schema "([^"]+)"/.exec(message)?.[1] : e?.code === '42P01' ? /relation "([^".]+)\./.exec(message)?.[1] : undefined;
  return named === ours ? undefined : named;
}

/**
 * What a refusal at start says about the configuration, in words, or undefined for any other error: a wrong password
 * or a role that does not exist (28P01, 28000), a URL that names no user (28000, when the environment has none either),
 * a database that does not exist (3D000). At start these are settings to fix, not a server to wait for (issue 24
 * item 16: they were retried forever as "Cannot reach PostgreSQL"); mid-run the same codes are still an outage.
 */
export function startupRefusal(err: unknown): string | undefined {
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const said = typeof e?.message === 'string' ? e.message : '';
  if (code === '28000' && /no PostgreSQL user name specified/i.test(said)) return 'the URL names no user: write it as postgres://USER@HOST:PORT/DATABASE (a password goes after the user and a colon)';
  if (code === '28P01' || code === '28000') return `the server refused the login (${code}: ${said}): check the user and password in the URL`;
  if (code === '3D000') return `the database does not exist on the server (${code}: ${said}): create it, or name another one in the URL`;
  return undefined;
}
