import type { SqliteDatabase } from 'kysely';
import { embeddedAddon } from './sea-addon.ts';

/** The library that opens SQLite files. */
export type SqliteDriver = 'better-sqlite3' | 'node:sqlite';

/** Opens a SQLite file as the database kysely's SqliteDialect drives; readonly never creates the file. */
export type OpenSqlite = (path: string, readonly: boolean) => SqliteDatabase;

/** better-sqlite3 on Node; Deno cannot load its addon (a legacy nan addon) but has node:sqlite. */
export const runtimeSqliteDriver = (): SqliteDriver => ('Deno' in globalThis ? 'node:sqlite' : 'better-sqlite3');

/**
 * The driver's open function. Its module is loaded only now, so Deno never touches better-sqlite3 and Node 20,
 * which has no node:sqlite, never touches that. In the single binary the embedded addon is extracted here.
 */
export async function sqliteOpener(driver: SqliteDriver, xdgCacheHome?: string): Promise<OpenSqlite> {
  if (driver === 'node:sqlite') return (await import('./node-sqlite.ts')).openNodeSqlite;
  const { openBetterSqlite } = await import('./better-sqlite3.ts');
  const nativeBinding = embeddedAddon(xdgCacheHome);
  return (path, readonly) => openBetterSqlite(path, readonly, nativeBinding);
}
