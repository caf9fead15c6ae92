import { accessSync, constants, existsSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { Kysely, SqliteDialect, sql, type SqliteDatabase } from 'kysely';
import { migrate } from '../migrate.ts';
import { DatabaseOpenError, type Database, type OpenOptions } from '../port.ts';
import type { Schema } from '../schema.ts';
import { sideFilePath } from '../journal/side-file.ts';
import { systemClock, type Clock } from '../../time/clock.ts';
import { runtimeSqliteDriver, sqliteOpener, type OpenSqlite } from './driver.ts';
import { fileBoundConnection } from './file-identity.ts';
import { AGENT_BUSY_TIMEOUT_MS, DEFAULT_BUSY_TIMEOUT_MS, sqlitePrimaryCode } from './faults.ts';
import { notWritable, prepareDatabaseFile } from './file-place.ts';
import { reusingStatements } from './statement-cache.ts';
import { setBusyTimeout, sqliteTraits } from './traits.ts';
import { UuidBlobPlugin } from './uuid-blobs.ts';

/** Opens (and for writers creates and migrates) a SQLite history file. */
export async function openSqlite(file: string, opts: OpenOptions = {}, cacheHome?: string): Promise<Database> {
  const path = resolve(file);
  const readonly = opts.readonly ?? false;
  if (readonly && !existsSync(path)) throw new DatabaseOpenError('missing', `Database ${path} does not exist (set DATABASE_URL or --db)`);
  // SQLite opens a FIFO, a socket or a device and then says only "disk I/O error" (issue 24 item 17).
  const kind = specialFile(path);
  if (kind) throw new DatabaseOpenError('not_database', `Cannot open database ${path}: it is ${kind}, not a regular file; it was left untouched`);
  let open: OpenSqlite;
  try {
    open = await sqliteOpener(opts.driver ?? runtimeSqliteDriver(), cacheHome);
  } catch (err) {
    // The single binary could not write its SQLite addon anywhere (sea-addon.ts).
    throw new DatabaseOpenError('not_writable', `Cannot open database ${path}: ${(err as Error).message}`);
  }
  if (!readonly) {
    const place = prepareDatabaseFile(path);
    if (!place.ok) throw new DatabaseOpenError('not_writable', `Cannot create database ${path}: ${place.reason}`);
  }
  let raw: SqliteDatabase;
  try {
    raw = open(path, readonly);
  } catch (err) {
    const why = whyUnusable(path, readonly);
    throw new DatabaseOpenError('not_writable', `Cannot open database ${path}: ${why ? `${why} (${(err as Error).message})` : (err as Error).message}`);
  }
  const busyTimeoutMs = Math.trunc(opts.busyTimeoutMs ?? (opts.agent ? AGENT_BUSY_TIMEOUT_MS : DEFAULT_BUSY_TIMEOUT_MS));
  try {
    // First: a connection opening the file while another process sets it up (WAL) waits for it instead of failing.
    pragma(raw, `busy_timeout = ${busyTimeoutMs}`);
    configure(raw, readonly);
    if (!readonly) probeWrite(raw);
  } catch (err) {
    raw.close();
    const e = err as Error & { code?: string };
    const primary = sqlitePrimaryCode(err);
    if (primary === 'NOTADB' || primary === 'CORRUPT') throw new DatabaseOpenError('not_database', `${path} is not a SQLite database (${e.message}); it was left untouched`);
    // CANTOPEN/READONLY here: the file opened but its directory takes no -wal/-shm file beside it (read-only mount),
    // or the file itself takes no write (the write probe).
    const hint = primary === 'CANTOPEN' || primary === 'READONLY' ? ` (${path} and its directory ${dirname(path)} must be writable: SQLite keeps -wal and -shm files beside the database)` : '';
    throw new DatabaseOpenError('not_writable', `Cannot use database ${path}: ${e.message}${hint}`);
  }
  // A writer's connection stays bound to the file it opened: a file deleted under it is noticed (checkFile).
  const bound = readonly ? undefined : fileBoundConnection(path, raw, () => reopen(open(path, false), busyTimeoutMs), reusingStatements, sideFilePath(`${path}-queue`, process.pid));
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: bound?.database ?? reusingStatements(raw) }), plugins: [new UuidBlobPlugin()] });
  let migrated: string[] | undefined;
  if (!readonly) {
    const isReadOnly = (err: unknown) => ['READONLY', 'CANTOPEN'].includes(sqlitePrimaryCode(err) ?? '');
    try {
      migrated = await migrate(db, path, { isReadOnly, exclusive: (work) => withWriteLock(db, work, busyTimeoutMs, opts.clock ?? systemClock) });
    } catch (err) {
      await db.destroy();
      throw err;
    }
  }
  return { db, location: path, traits: sqliteTraits(db, path, busyTimeoutMs, bound), close: () => db.destroy(), migrated };
}

/** What a path names when it is neither a regular file, a directory (SQLite's own words) nor nothing. */
function specialFile(path: string): string | undefined {
  let s;
  try {
    s = statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined; // ENOTDIR, EACCES…: the open that follows says what is wrong, in the words of the other cases
  }
  if (!s || s.isFile() || s.isDirectory()) return undefined;
  if (s.isFIFO()) return 'a named pipe (FIFO)';
  if (s.isSocket()) return 'a socket';
  if (s.isCharacterDevice() || s.isBlockDevice()) return 'a device';
  return 'a special file';
}

/** The connection's settings; any read fails first on a file that is not SQLite, before anything could be written. */
function configure(raw: SqliteDatabase, readonly: boolean): SqliteDatabase {
  pragma(raw, 'schema_version');
  if (!readonly) {
    pragma(raw, 'journal_mode = WAL'); // readers look while the agent writes
    pragma(raw, 'synchronous = FULL'); // a committed record survives power loss too: records are sacred here
  }
  pragma(raw, 'foreign_keys = ON');
  return raw;
}

/** The file recreated at its path (file-identity.ts), opened as the agent's connection again. */
function reopen(raw: SqliteDatabase, busyTimeoutMs: number): SqliteDatabase {
  pragma(raw, `busy_timeout = ${busyTimeoutMs}`);
  return configure(raw, false);
}

/**
 * Fails (SQLITE_READONLY) unless the file takes writes, and leaves it unchanged. Needed because SQLite opens a file it
 * cannot write read-only without a word, and when -wal and -shm files are already there (after any crash) even WAL
 * mode and the migrations (nothing to do) go through: the agent would then run with every record in memory. A lock
 * held by another connection is no reason to refuse: the database is writable, just busy.
 */
function probeWrite(db: SqliteDatabase): void {
  const run = (statement: string) => db.prepare(statement).run([]);
  run('BEGIN');
  try {
    run('CREATE TABLE main.pmf_write_probe (x INTEGER)');
  } catch (err) {
    if (!['BUSY', 'LOCKED'].includes(sqlitePrimaryCode(err) ?? '')) throw err;
  } finally {
    run('ROLLBACK');
  }
}

/**
 * How long a writer waits for the file's write lock to migrate: another process may be migrating it (two agents
 * started together, `migrate` run beside a starting agent); that takes milliseconds, a slow disk a few seconds.
 */
const MIGRATION_LOCK_WAIT_MS = 30_000;
/**
 * Between two tries for that lock. The wait is ours, not SQLite's busy handler: that one blocks the thread, and a
 * second connection of the same process (tests, `demo`) would then hold up the very migration it waits for.
 */
const MIGRATION_LOCK_RETRY_MS = 20;

/**
 * Runs `work` holding the file's write lock (`BEGIN IMMEDIATE`), committed after it, rolled back if it fails:
 * kysely's SQLite adapter takes no lock across processes, and two processes migrating one new file both created
 * `cycles` (issue 11 item 2). The migrations then also apply all together or not at all.
 */
async function withWriteLock<T>(db: Kysely<Schema>, work: () => Promise<T>, busyTimeoutMs: number, clock: Clock): Promise<T> {
  await setBusyTimeout(db, 0);
  try {
    for (const giveUpAt = clock.now() + MIGRATION_LOCK_WAIT_MS; ; ) {
      try {
        await sql`begin immediate`.execute(db);
        break;
      } catch (err) {
        if (sqlitePrimaryCode(err) !== 'BUSY' || clock.now() >= giveUpAt) throw err;
        await clock.sleep(MIGRATION_LOCK_RETRY_MS);
      }
    }
  } finally {
    await setBusyTimeout(db, busyTimeoutMs);
  }
  try {
    const result = await work();
    await sql`commit`.execute(db);
    return result;
  } catch (err) {
    await sql`rollback`.execute(db).catch(() => {});
    throw err;
  }
}

/**
 * Why a file SQLite could not open cannot be used, in words: SQLite only says "unable to open database file". Checked
 * after the failure (the hot path never pays for it); undefined when nothing here explains it.
 */
function whyUnusable(path: string, readonly: boolean): string | undefined {
  const user = `this user (uid ${process.getuid?.() ?? '?'})`;
  /** The code access() fails with, or undefined when allowed. */
  const refused = (target: string, mode: number): string | undefined => {
    try {
      accessSync(target, mode);
      return undefined;
    } catch (err) {
      return String((err as NodeJS.ErrnoException).code);
    }
  };
  const words = (code: string, action: string) => (code === 'EROFS' ? 'the file system is read-only' : `permission denied: ${user} cannot ${action}`);
  if (existsSync(path)) {
    if (statSync(path).isDirectory()) return 'it is a directory, not a file';
    const code = refused(path, constants.R_OK | (readonly ? 0 : constants.W_OK));
    if (code) return words(code, readonly ? 'read it' : 'read and write it');
  }
  const dir = dirname(path);
  if (!existsSync(dir)) return `its directory ${dir} does not exist`;
  const code = readonly ? undefined : refused(dir, constants.W_OK | constants.X_OK);
  if (code) return notWritable(dir, code, process.getuid?.());
  return undefined;
}

// Through prepare, which both drivers have (node:sqlite has no .pragma()); a setting that answers nothing is run.
function pragma(db: SqliteDatabase, setting: string): void {
  const stmt = db.prepare(`PRAGMA ${setting}`);
  if (stmt.reader) stmt.all([]);
  else stmt.run([]);
}
