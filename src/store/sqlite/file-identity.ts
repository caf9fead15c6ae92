import { linkSync, rmSync, statSync } from 'node:fs';
import type { SqliteDatabase, SqliteStatement } from 'kysely';
import { errorLine } from '../../log/error-line.ts';
import type { FileCheck } from '../port.ts';

/** Which file a path names: a deleted or replaced file keeps its inode, the path then names another one or none. */
interface FileId {
  dev: number;
  ino: number;
}

const idOf = (path: string): FileId | undefined => {
  const s = statSync(path, { throwIfNoEntry: false });
  return s && { dev: s.dev, ino: s.ino };
};

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
 * - replaced by another file, or the recreation fails: refuses to write (every statement fails as a storage fault,
 *   so the write queue keeps the records in memory and prints them at shutdown), rather than write where nobody reads.
 */
export function fileBoundConnection(path: string, first: SqliteDatabase, reopen: () => SqliteDatabase, wrap: (db: SqliteDatabase) => SqliteDatabase) {
  let raw: SqliteDatabase | undefined = first;
  let current = wrap(first);
  let opened = idOf(path);
  let refused: string | undefined;

  const refuse = (why: string): FileCheck => {
    refused = why;
    try {
      raw?.close();
    } catch {
      // already failing: the refusal is what matters
    }
    raw = undefined;
    return { fault: `${why}: refusing to write into a file nobody can read; records are kept in memory (printed on stderr at shutdown if still unwritten)` };
  };

  /** Copies the open (deleted) database to its path and reopens there; the copy goes in place only if nothing took the path meanwhile. */
  const recreate = (): FileCheck => {
    const copy = `${path}.recreated-${process.pid}`;
    rmSync(copy, { force: true });
    try {
      raw!.prepare('VACUUM INTO ?').run([copy]);
    } catch (err) {
      rmSync(copy, { force: true });
      return refuse(`Database file ${path} was deleted while in use and could not be recreated (${errorLine(err)})`);
    }
    raw!.close();
    raw = undefined;
    try {
      // The deleted file's -wal and -shm stay at their names (SQLite does not remove a moved database's on close), and
      // SQLite would read that WAL as the new file's: remove them first. Their content is in the copy.
      rmSync(`${path}-wal`, { force: true });
      rmSync(`${path}-shm`, { force: true });
      linkSync(copy, path); // never over a file that appeared meanwhile
      rmSync(copy);
      raw = reopen();
      current = wrap(raw);
      opened = idOf(path);
    } catch (err) {
      return refuse(`Database file ${path} was deleted while in use and could not be recreated (${errorLine(err)}); its history was copied to ${copy}`);
    }
    return { fault: `Database file ${path} was deleted while in use: recreated it at its path from the open connection, every record kept; writing there again` };
  };

  return {
    /** The connection kysely drives: statements go to the current file, or fail while writing is refused. */
    database: {
      close: () => raw?.close(),
      prepare(sql: string): SqliteStatement {
        if (refused !== undefined) throw refusal(refused);
        return current.prepare(sql);
      },
    } satisfies SqliteDatabase,
    /** Whether the path still names the file opened; what was done about it when not. Call it with no statement under way. */
    check(): FileCheck | undefined {
      if (refused !== undefined || opened === undefined) return undefined;
      const now = idOf(path);
      if (now !== undefined && now.dev === opened.dev && now.ino === opened.ino) return undefined;
      if (now === undefined) return recreate();
      return refuse(`Database file ${path} was replaced by another file while in use`);
    },
  };
}
