import { mkdirSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import { Migrator } from 'kysely/migration';
import { migrations } from '../../migrations/index.ts';
import type { DatabaseTarget } from '../config.ts';
import type { Schema } from './schema.ts';
import { runtimeSqliteDriver, sqliteOpener, type SqliteDriver } from './sqlite-driver.ts';
import { reusingStatements } from './statement-cache.ts';

/** Why a database could not be opened: a value the CLI turns into exit 2 and one line. */
export class DatabaseOpenError extends Error {
  constructor(
    readonly kind: 'missing' | 'not_writable' | 'not_database' | 'migration',
    message: string,
  ) {
    super(message);
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

/** An open history database. */
export interface Database {
  readonly db: Kysely<Schema>;
  readonly location: string;
  close(): Promise<void>;
}

/** Opens (and for writers creates and migrates) the history database. */
export async function openDatabase(target: DatabaseTarget, opts: OpenOptions = {}): Promise<Database> {
  const path = resolve(target.path);
  const readonly = opts.readonly ?? false;
  if (readonly && !existsSync(path)) throw new DatabaseOpenError('missing', `Database ${path} does not exist (set DATABASE_URL or --db)`);
  const open = await sqliteOpener(opts.driver ?? runtimeSqliteDriver());
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
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: reusingStatements(raw) }) });
  if (!readonly) await migrate(db, path);
  return { db, location: path, close: () => db.destroy() };
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

/** Brings the schema up to date; failures become a DatabaseOpenError. */
export async function migrate(db: Kysely<Schema>, location: string): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations } });
  const { error, results } = await migrator.migrateToLatest();
  if (error) {
    const e = error as Error & { code?: string };
    const kind = e.code === 'SQLITE_READONLY' || e.code === 'SQLITE_CANTOPEN' ? 'not_writable' : 'migration';
    throw new DatabaseOpenError(kind, `Cannot migrate database ${location}: ${e.message ?? String(error)}`);
  }
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
