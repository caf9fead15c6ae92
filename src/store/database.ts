import { mkdirSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, SqliteDialect, sql, type SqliteDatabase, type Transaction } from 'kysely';
import { Migrator } from 'kysely/migration';
import { migrations } from '../../migrations/index.ts';
import type { DatabaseTarget } from '../config.ts';
import type { Schema } from './schema.ts';
import { runtimeSqliteDriver, sqliteOpener, type OpenSqlite, type SqliteDriver } from './sqlite-driver.ts';
import { reusingStatements } from './statement-cache.ts';
import { UuidBlobPlugin } from './uuid-blobs.ts';
import { isStorageFault } from './write-queue.ts';

/** Why a database could not be opened: a value the CLI turns into exit 2 and one line. */
export class DatabaseOpenError extends Error {
  constructor(
    /** `unreachable`: a database server that does not answer (yet); the agent waits for it, a report gives up. */
    readonly kind: 'missing' | 'not_writable' | 'not_database' | 'migration' | 'unreachable',
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = 'DatabaseOpenError';
  }
}

export interface OpenOptions {
  /** Readers (history, stats) never create, migrate or write. */
  readonly?: boolean;
  /** Default: the runtime's (better-sqlite3 on Node, node:sqlite on Deno); tests run each one they can load. */
  driver?: SqliteDriver;
  /** How long a statement waits for another connection's lock (default 5000); the agent passes AGENT_BUSY_TIMEOUT_MS. */
  busyTimeoutMs?: number;
}

/**
 * What a backend guarantees and how it behaves, as capabilities the agent and the stores read: nothing outside
 * the backend modules asks which database it is.
 */
export interface BackendTraits {
  /**
   * True (PostgreSQL, shared by replicas): a slot fires only once its claim is written; when the database cannot
   * take the claim the slot is skipped, which is what makes "exactly once" hold across replicas during a fault.
   * False (SQLite, one host): availability wins; a claim that cannot be written waits in the write queue with the
   * other records and the slot fires anyway.
   */
  readonly claimMustSucceed: boolean;
  /**
   * True: RUN_ON_START fires at most once per interval of the pattern among all agents on the database, and not at
   * all when one of them already ran the job in the current interval (replicas restarting one by one must not each
   * fire an extra cycle). False: every start fires its own startup cycle.
   */
  readonly startupOncePerInterval: boolean;
  /** Whether an error means the database cannot take writes for now (worth queueing and retrying) rather than a bug. */
  isUnavailable(err: unknown): boolean;
  /**
   * Run first in the transaction of a RUN_ON_START claim when `startupOncePerInterval`: waits for the claims under
   * way and holds off new ones until it commits, so its "has anyone run the job this interval?" check cannot miss a
   * concurrent claim (PostgreSQL: a table lock). Absent: the claim's single statement is atomic as is.
   */
  lockForStartupClaim?(tx: Transaction<Schema>): Promise<void>;
  /**
   * Sets how long a statement waits for another connection's lock (0: fail at once), where the driver waits on the
   * agent's thread (SQLite): the write queue turns it off during an outage. Absent: nothing blocks the thread.
   */
  setLockWait?(db: Kysely<Schema>, ms: number): Promise<void>;
  /** What `prune` says about the space it freed. */
  readonly freedSpace: string;
}

/** SQLite: one file on one host, where availability wins. */
export const SQLITE_TRAITS: BackendTraits = {
  claimMustSucceed: false,
  startupOncePerInterval: false,
  isUnavailable: isStorageFault,
  setLockWait: (db, ms) => setBusyTimeout(db, ms),
  freedSpace: 'SQLite reuses the freed pages',
};

/** An open history database. */
export interface Database {
  readonly db: Kysely<Schema>;
  /** The file path, or the server URL with its password hidden: what logs and messages show. */
  readonly location: string;
  readonly traits: BackendTraits;
  close(): Promise<void>;
}

/**
 * Opens (and for writers creates and migrates) the history database: a SQLite file, or a PostgreSQL server
 * (src/store/postgres.ts, loaded only then).
 */
export async function openDatabase(target: DatabaseTarget, opts: OpenOptions = {}): Promise<Database> {
  if (target.kind === 'postgres') return (await import('./postgres.ts')).openPostgres(target.url, opts);
  const path = resolve(target.path);
  const readonly = opts.readonly ?? false;
  if (readonly && !existsSync(path)) throw new DatabaseOpenError('missing', `Database ${path} does not exist (set DATABASE_URL or --db)`);
  let open: OpenSqlite;
  try {
    open = await sqliteOpener(opts.driver ?? runtimeSqliteDriver());
  } catch (err) {
    // The single binary could not write its SQLite addon anywhere (src/store/sea-addon.ts).
    throw new DatabaseOpenError('not_writable', `Cannot open database ${path}: ${(err as Error).message}`);
  }
  let raw: SqliteDatabase;
  try {
    if (!readonly) mkdirSync(dirname(path), { recursive: true });
    raw = open(path, readonly);
  } catch (err) {
    throw new DatabaseOpenError('not_writable', `Cannot open database ${path}: ${(err as Error).message}`);
  }
  try {
    // Any read fails on a file that is not SQLite, before anything could be written to it.
    pragma(raw, 'schema_version');
    if (!readonly) {
      pragma(raw, 'journal_mode = WAL'); // readers look while the agent writes
      pragma(raw, 'synchronous = FULL'); // a committed record survives power loss too: records are sacred here
    }
    pragma(raw, `busy_timeout = ${Math.trunc(opts.busyTimeoutMs ?? 5000)}`);
    pragma(raw, 'foreign_keys = ON');
  } catch (err) {
    raw.close();
    const e = err as Error & { code?: string };
    if (e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT') throw new DatabaseOpenError('not_database', `${path} is not a SQLite database (${e.message}); it was left untouched`);
    // CANTOPEN/READONLY here: the file opened but its directory takes no -wal/-shm file beside it (read-only mount).
    const hint = e.code === 'SQLITE_CANTOPEN' || e.code?.startsWith('SQLITE_READONLY') ? ` (${dirname(path)} must be writable: SQLite keeps -wal and -shm files beside the database)` : '';
    throw new DatabaseOpenError('not_writable', `Cannot use database ${path}: ${e.message}${hint}`);
  }
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: reusingStatements(raw) }), plugins: [new UuidBlobPlugin()] });
  if (!readonly) await migrate(db, path);
  return { db, location: path, traits: SQLITE_TRAITS, close: () => db.destroy() };
}

// Through prepare, which both drivers have (node:sqlite has no .pragma()); a setting that answers nothing is run.
function pragma(db: SqliteDatabase, setting: string): void {
  const stmt = db.prepare(`PRAGMA ${setting}`);
  if (stmt.reader) stmt.all([]);
  else stmt.run([]);
}

/** Changes how long this connection's statements wait for another connection's lock (0: fail at once). */
export async function setBusyTimeout(db: Kysely<Schema>, ms: number): Promise<void> {
  await sql.raw(`PRAGMA busy_timeout = ${Math.trunc(ms)}`).execute(db);
}

/**
 * Brings the schema up to date; failures become a DatabaseOpenError. `tableSchema` names the PostgreSQL schema that
 * holds kysely's own migration tables (without it kysely would take one found in any schema for ours).
 */
export async function migrate(db: Kysely<Schema>, location: string, tableSchema?: string): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations }, migrationTableSchema: tableSchema });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const e = error as Error & { code?: string };
    const kind = e.code === 'SQLITE_READONLY' || e.code === 'SQLITE_CANTOPEN' ? 'not_writable' : 'migration';
    throw new DatabaseOpenError(kind, `Cannot migrate database ${location}: ${e.message ?? String(error)}`, error);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
