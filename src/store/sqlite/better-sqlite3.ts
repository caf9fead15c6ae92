import BetterSqlite3 from 'better-sqlite3';
import type { SqliteDatabase } from 'kysely';

/**
 * Opens a SQLite file with better-sqlite3 (Node), the database kysely's SqliteDialect was written for.
 * `nativeBinding` is an already loaded addon (the single binary's); without it better-sqlite3 finds its own.
 */
export function openBetterSqlite(path: string, readonly: boolean, nativeBinding?: object): SqliteDatabase {
  // The types know only the path form of nativeBinding; better-sqlite3 also takes the loaded addon object.
  return new BetterSqlite3(path, { readonly, fileMustExist: readonly, nativeBinding: nativeBinding as string | undefined });
}
