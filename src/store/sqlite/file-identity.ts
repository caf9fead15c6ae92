import { existsSync, linkSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { errorLine } from '../../log/error-line.ts';
import type { FileCheck } from '../port.ts';
import { prepareDirectory } from './file-place.ts';

/** Which file a path names: a deleted or replaced file keeps its inode, the path then names another one or none. */
interface FileId {
  dev: number;
  ino: number;
}

const idOf = (path: string): FileId | undefined => {
  const s = statSync(path, { throwIfNoEntry: false });
  return s && { dev: s.dev, ino: s.ino };
};

/** Whether `path` names another file than `id` (not: no file at all). */
function namesAnother(path: string, id: FileId | undefined): boolean {
  const now = idOf(path);
  return id !== undefined && now !== undefined && (now.dev !== id.dev || now.ino !== id.ino);
}

/** A database's -wal and -shm files as they are now. */
const journalIds = (path: string): [string, FileId | undefined][] => [`${path}-wal`, `${path}-shm`].map((name) => [name, idOf(name)]);

/** Copies the whole database an open connection sees (file and -wal) to `to`; the error line when it cannot. */
function copyHistory(raw: SqliteDatabase, to: string): string | undefined {
  try {
    raw.prepare('VACUUM INTO ?').run([to]);
    return undefined;
  } catch (err) {
    return errorLine(err);
  }
}

/**
 * Puts the copy of a deleted database at its path. The deleted file's -wal and -shm stay at their names (SQLite does
 * not remove a moved database's on close), and SQLite would read that WAL as the new file's: removed first, their
 * content is in the copy. Linked, never over a file that appeared meanwhile.
 */
function placeCopy(path: string, copy: string): void {
  rmSync(`${path}-wal`, { force: true });
  rmSync(`${path}-shm`, { force: true });
  linkSync(copy, path);
  rmSync(copy);
}

/** The statements that write (kysely's inserts, updates and deletes), and those that open and close a transaction. */
const WRITES = /^\s*(insert|update|delete|replace)\b/i;
const BEGIN = /^\s*begin\b/i;
const END = /^\s*(commit|rollback|end)\b/i;

/** What a write gets while no file can be written honestly: a storage fault, so the write queue holds the record. */
function refusal(why: string): Error {
  return Object.assign(new Error(`SQLITE_CANTOPEN: ${why}`), { code: 'SQLITE_CANTOPEN_DELETED' });
}

/**
 * The agent's SQLite connection, bound to the file its path named when it was opened. SQLite keeps writing to a file
 * deleted under it (the unlinked inode), where nobody can ever read the records; `check` notices that the path no
 * longer names the file opened and:
 * - deleted (the path names nothing): recreates the file at its path from the open connection (`VACUUM INTO`, the
 *   whole history, the records written before the deletion included) and goes on writing there;
 *   Its directory removed too (`rm -rf`): the directory is created again first; if it cannot be, the history is
 *   copied to the temporary directory instead, and the line says where (issue 24 item 5);
 * - replaced by another file, or the recreation fails: refuses to write (every statement fails as a storage fault,
 *   so the write queue keeps the records in memory and prints them at shutdown), rather than write where nobody reads.
 *
 * A replacement is also looked for before every write statement (one stat, a few microseconds): a replaced file's
 * name keeps our `-wal` and `-shm`, which SQLite would read as the new file's, so not one write may go there after
 * the swap (before, up to a heartbeat's 10 s of them did; issue 24 item 6). The side file the write queue keeps
 * meanwhile (`sideFile`) is set aside at close as `<name>.<ms>.unreplayed`: the next start must not replay our
 * records into the file now at the path.
 */
export function fileBoundConnection(path: string, first: SqliteDatabase, reopen: () => SqliteDatabase, wrap: (db: SqliteDatabase) => SqliteDatabase, sideFile?: string) {
  let raw: SqliteDatabase | undefined = first;
  let current = wrap(first);
  let opened = idOf(path);
  let refused: string | undefined;
  let replaced = false;

  const replacedLine = `Database file ${path} was replaced by another file while in use`;
  const refuse = (why: string): FileCheck => {
    refused = why;
    try {
      raw?.close();
    } catch {
      // already failing: the refusal is what matters
    }
    raw = undefined;
    const aside = replaced && sideFile ? `; the side file ${sideFile} is set aside at shutdown as ${sideFile}.<ms>.unreplayed, never replayed into the file now at the path` : '';
    return { fault: `${why}: refusing to write into ${replaced ? 'a file that is not ours' : 'a file nobody can read'}; records are kept in memory (printed on stderr at shutdown if still unwritten)${aside}` };
  };
  // Our -wal/-shm stay at the path's names, read by SQLite as the new file's (a reader of the impostor saw our tables):
  // the history (file and -wal) is copied beside the path, the connection closed, our -wal/-shm (same inodes) removed.
  const refuseReplaced = () => {
    replaced = true;
    const kept = `${path}.replaced-${process.pid}-${Date.now()}.db`;
    const failed = copyHistory(raw!, kept);
    const result = refuse(`${replacedLine}; ${failed === undefined ? `every record written until now was copied to ${kept}` : `the history could not be copied to ${kept} (${failed})`}`);
    for (const [name, id] of journals) if (!namesAnother(name, id) && id) rmSync(name, { force: true });
    return result;
  };
  let journals = journalIds(path); // as opened: SQLite creates them with the first read in WAL mode
  let inTransaction = false;
  let reported: FileCheck | undefined;

  /** Copies the open (deleted) database to its path and reopens there; the copy goes in place only if nothing took the path meanwhile. */
  const recreate = (): FileCheck => {
    const copy = `${path}.recreated-${process.pid}`;
    const dir = prepareDirectory(dirname(path));
    if (!dir.ok) return rescue(`its directory could not be created again: ${dir.reason}`);
    rmSync(copy, { force: true });
    try {
      raw!.prepare('VACUUM INTO ?').run([copy]);
    } catch (err) {
      rmSync(copy, { force: true });
      return rescue(errorLine(err));
    }
    raw!.close();
    raw = undefined;
    try {
      placeCopy(path, copy);
      raw = reopen();
      current = wrap(raw);
      opened = idOf(path);
      journals = journalIds(path);
    } catch (err) {
      return refuse(`Database file ${path} was deleted while in use and could not be recreated (${errorLine(err)}); its history was copied to ${copy}`);
    }
    return { fault: `Database file ${path} was deleted while in use: recreated it at its path from the open connection, every record kept; writing there again` };
  };

  /** The recreation failed: the whole history still goes to a file someone can read, in the temporary directory. */
  const rescue = (why: string): FileCheck => {
    const kept = join(tmpdir(), `pmf-scheduler-rescued-${process.pid}-${Date.now()}.db`);
    const failed = copyHistory(raw!, kept);
    if (failed !== undefined) return refuse(`Database file ${path} was deleted while in use and could not be recreated (${why}), nor copied to ${kept} (${failed})`);
    return refuse(`Database file ${path} was deleted while in use and could not be recreated (${why}); every record written until now was copied to ${kept}`);
  };

  return {
    /** The connection kysely drives: statements go to the current file, or fail while writing is refused. */
    database: {
      close() {
        raw?.close();
        raw = undefined;
        if (replaced && sideFile && existsSync(sideFile)) renameSync(sideFile, `${sideFile}.${Date.now()}.unreplayed`);
      },
      prepare(sql: string): SqliteStatement {
        // Checked where no transaction is open (VACUUM INTO cannot run inside one): at `begin` and at a lone write.
        if (BEGIN.test(sql) || (WRITES.test(sql) && !inTransaction)) {
          if (refused === undefined && namesAnother(path, opened)) reported = refuseReplaced();
          inTransaction = BEGIN.test(sql);
        } else if (END.test(sql)) inTransaction = false;
        if (refused !== undefined) throw refusal(refused);
        return current.prepare(sql);
      },
    } satisfies SqliteDatabase,
    /** Whether the path still names the file opened; what was done about it when not. Call it with no statement under way. */
    check(): FileCheck | undefined {
      // A refusal made by a write (prepare) is said by the next check.
      const found = reported;
      reported = undefined;
      if (found) return found;
      if (refused !== undefined || opened === undefined) return undefined;
      const now = idOf(path);
      if (now !== undefined && now.dev === opened.dev && now.ino === opened.ino) return undefined;
      if (now === undefined) return recreate();
      return refuseReplaced();
    },
  };
}
