/**
 * The agent's SQLite busy timeout. better-sqlite3 is synchronous: waiting for a lock blocks the event loop, and so
 * the scheduler. Behind the write queue a write that cannot get the lock in time loses nothing (it is queued), so
 * the wait can be short; it stays far longer than another agent's commit (milliseconds), so that two agents
 * sharing a file never take each other's ordinary writes for a fault. Under a second, so that whatever meets a lock
 * first (a write, the retention, a chore's read) can make a slot late but never push it past the next one on an
 * every-second pattern (the soak saw a 1 s wait at a slot leave it unfired and unrecorded).
 */
export const AGENT_BUSY_TIMEOUT_MS = 500;
/** Every other connection's busy timeout: better-sqlite3's default. */
export const DEFAULT_BUSY_TIMEOUT_MS = 5000;

// SQLite result codes (primary part; node:sqlite errors are given the same `code` by our driver) that mean "the
// database cannot take this write now, but may later": a lock, a full disk, I/O or permission trouble, a file
// replaced under us. Anything else (a constraint, an SQL error) is a bug that retrying would not fix.
const STORAGE_FAULTS = new Set(['BUSY', 'LOCKED', 'NOMEM', 'READONLY', 'IOERR', 'CORRUPT', 'FULL', 'CANTOPEN', 'PROTOCOL', 'NOTADB', 'NOLFS', 'PERM']);

/** The primary SQLite result code of an error (`SQLITE_READONLY_DBMOVED` → `READONLY`), if it has one. */
export function sqlitePrimaryCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? /^SQLITE_([A-Z]+)/.exec(code)?.[1] : undefined;
}

/** Whether a SQLite write failed because of the storage (worth queueing and retrying) rather than a bug. */
export function isStorageFault(err: unknown): boolean {
  const primary = sqlitePrimaryCode(err);
  return primary !== undefined && STORAGE_FAULTS.has(primary);
}

/** A query that met a database without our tables: not ours, or a schema older than this version. */
export const isSqliteMissingTable = (err: unknown): boolean => /no such table/i.test(String((err as { message?: unknown } | null)?.message ?? ''));
