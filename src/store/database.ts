import { mkdirSync, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { Migrator } from 'kysely/migration';
import { migrations } from '../../migrations/index.ts';
import type { DatabaseTarget } from '../config.ts';
import type { Schema } from './schema.ts';

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
  let raw: BetterSqlite3.Database;
  try {
    if (!readonly) mkdirSync(dirname(path), { recursive: true });
    raw = new BetterSqlite3(path, { readonly, fileMustExist: readonly });
  } catch (err) {
    throw new DatabaseOpenError('not_writable', `Cannot open database ${path}: ${(err as Error).message}`);
  }
  try {
    // Any read fails on a file that is not SQLite, before anything could be written to it.
    raw.pragma('schema_version');
    if (!readonly) {
      raw.pragma('journal_mode = WAL'); // readers look while the agent writes
      raw.pragma('synchronous = FULL'); // a committed record survives power loss too: records are sacred here
    }
    raw.pragma('busy_timeout = 5000');
    raw.pragma('foreign_keys = ON');
  } catch (err) {
    raw.close();
    const e = err as Error & { code?: string };
    if (e.code === 'SQLITE_NOTADB' || e.code === 'SQLITE_CORRUPT') throw new DatabaseOpenError('not_database', `${path} is not a SQLite database (${e.message}); it was left untouched`);
    throw new DatabaseOpenError('not_writable', `Cannot use database ${path}: ${e.message}`);
  }
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: raw }) });
  if (!readonly) await migrate(db, path);
  return { db, location: path, close: () => db.destroy() };
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
