import { sql, type Kysely } from 'kysely';
import type { BackendTraits } from '../port.ts';
import type { Schema } from '../schema.ts';
import type { fileBoundConnection } from './file-identity.ts';
import { isSqliteMissingTable, isStorageFault } from './faults.ts';

/** SQLite: one file on one host, where availability wins. */
export function sqliteTraits(db: Kysely<Schema>, path: string, busyTimeoutMs: number, bound?: ReturnType<typeof fileBoundConnection>): BackendTraits {
  return {
    claimMustSucceed: false,
    startupOncePerInterval: false,
    isUnavailable: isStorageFault,
    isMissingTable: isSqliteMissingTable,
    setLockWait: (wait) => setBusyTimeout(db, wait ? busyTimeoutMs : 0),
    freedSpace: 'SQLite reuses the freed pages',
    // With the connection held (kysely's single-connection mutex): no statement or transaction is under way.
    checkFile: bound && (() => db.connection().execute(async () => bound.check())),
    sideFileBase: `${path}-queue`,
  };
}

/** Changes how long this connection's statements wait for another connection's lock (0: fail at once). */
export async function setBusyTimeout(db: Kysely<Schema>, ms: number): Promise<void> {
  await sql.raw(`PRAGMA busy_timeout = ${Math.trunc(ms)}`).execute(db);
}
