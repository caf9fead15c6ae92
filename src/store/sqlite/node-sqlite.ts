import { DatabaseSync, type SQLInputValue, type StatementSync } from 'node:sqlite';
import type { SqliteDatabase, SqliteStatement } from 'kysely';

// SQLite's primary result codes by number: node:sqlite reports `errcode` 26 where better-sqlite3 says SQLITE_NOTADB.
const PRIMARY_CODES = ['OK', 'ERROR', 'INTERNAL', 'PERM', 'ABORT', 'BUSY', 'LOCKED', 'NOMEM', 'READONLY', 'INTERRUPT', 'IOERR', 'CORRUPT', 'NOTFOUND', 'FULL', 'CANTOPEN', 'PROTOCOL', 'EMPTY', 'SCHEMA', 'TOOBIG', 'CONSTRAINT', 'MISMATCH', 'MISUSE', 'NOLFS', 'AUTH', 'FORMAT', 'RANGE', 'NOTADB', 'NOTICE', 'WARNING'];

/**
 * Gives a node:sqlite error the `code` better-sqlite3 would give it (`SQLITE_NOTADB`), so the error kinds read from
 * it are the same on both drivers. Only the primary code is named: an extended one (2067, UNIQUE) becomes
 * `SQLITE_CONSTRAINT` where better-sqlite3 says `SQLITE_CONSTRAINT_UNIQUE`.
 */
function withSqliteCode(err: unknown): unknown {
  const e = err as { code?: string; errcode?: unknown };
  const name = typeof e.errcode === 'number' ? PRIMARY_CODES[e.errcode & 0xff] : undefined;
  if (name !== undefined) e.code = `SQLITE_${name}`;
  return err;
}

function sqlite<T>(call: () => T): T {
  try {
    return call();
  } catch (err) {
    throw withSqliteCode(err);
  }
}

// node:sqlite rejects `undefined` where better-sqlite3 binds NULL; other values it checks itself, as better-sqlite3 does.
const bindable = (params: ReadonlyArray<unknown>) => params.map((p) => (p === undefined ? null : p)) as SQLInputValue[];
// Its rows have a null prototype; plain objects keep deepEqual and spreads identical across drivers.
const plain = (row: object) => ({ ...row });

function statement(stmt: StatementSync): SqliteStatement {
  return {
    reader: stmt.columns().length > 0,
    all: (params) => sqlite(() => stmt.all(...bindable(params)).map(plain)),
    run: (params) => sqlite(() => stmt.run(...bindable(params))),
    *iterate(params) {
      for (const row of sqlite(() => stmt.iterate(...bindable(params)))) yield plain(row);
    },
  };
}

/** Opens a SQLite file through `node:sqlite` (Deno, Node 22+) as the database kysely's SqliteDialect drives. */
export function openNodeSqlite(path: string, readonly: boolean): SqliteDatabase {
  const db = sqlite(() => new DatabaseSync(path, { readOnly: readonly }));
  return {
    prepare: (sql) => statement(sqlite(() => db.prepare(sql))),
    close: () => db.close(),
  };
}
