import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../../src/store/database.ts';

/** A fresh directory under the system temp dir, removed by `cleanup`. */
export function tempDir(prefix = 'pmf-test-'): { dir: string; cleanup(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A real, migrated SQLite file in a temp dir. */
export async function tempDatabase(): Promise<Database & { path: string; cleanup(): Promise<void> }> {
  const t = tempDir();
  const path = join(t.dir, 'history.db');
  const db = await openDatabase({ kind: 'sqlite', path });
  return {
    ...db,
    path,
    cleanup: async () => {
      await db.close().catch(() => {});
      t.cleanup();
    },
  };
}
