import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/open.ts';
import type { Database, OpenOptions } from '../../src/store/port.ts';
import type { SqliteDriver } from '../../src/store/sqlite/driver.ts';

/** A fresh directory under the system temp dir, removed by `cleanup`. */
export function tempDir(prefix = 'pmf-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A real, migrated SQLite file in a temp dir (opened by the runtime's driver unless `opts.driver` says). */
export async function tempDatabase(opts: OpenOptions = {}): Promise<Database & { path: string; cleanup(): Promise<void> }> {
  const t = tempDir();
  const path = join(t.dir, 'history.db');
  const db = await openDatabase({ kind: 'sqlite', path }, opts);
  return {
    ...db,
    path,
    cleanup: async () => {
      await db.close().catch(() => {});
      t.cleanup();
    },
  };
}

/** The SQLite drivers this runtime loads, for suites that run against each: better-sqlite3 on Node, node:sqlite on Deno and Node 22+. */
export async function loadableSqliteDrivers(): Promise<SqliteDriver[]> {
  const drivers: SqliteDriver[] = 'Deno' in globalThis ? [] : ['better-sqlite3'];
  try {
    await import('node:sqlite');
    drivers.push('node:sqlite');
  } catch {
    // Node 20 has no node:sqlite.
  }
  return drivers;
}
