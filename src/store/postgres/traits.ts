import { sql } from 'kysely';
import type { BackendTraits } from '../port.ts';
import { isPostgresMissingTable, isPostgresUnavailable, postgresMayHaveCommitted } from './faults.ts';

/** PostgreSQL, shared by replicas: exactly once across them, so no claim means no fire. */
export const POSTGRES_TRAITS: BackendTraits = {
  claimMustSucceed: true,
  startupOncePerInterval: true,
  isUnavailable: isPostgresUnavailable,
  mayHaveCommitted: postgresMayHaveCommitted,
  isMissingTable: isPostgresMissingTable,
  // SHARE ROW EXCLUSIVE conflicts with every insert, update and delete (ROW EXCLUSIVE) and with itself, and waits
  // for the writes already under way: the startup claim's check then sees every claim committed before it, and
  // no claim can commit between its check and its insert. Held for one statement; other replicas wait a few ms.
  lockForStartupClaim: async (tx) => {
    await sql`LOCK TABLE cycles IN SHARE ROW EXCLUSIVE MODE`.execute(tx);
  },
  freedSpace: "PostgreSQL's autovacuum makes the space reusable",
  // clock_timestamp(), not now(): now() is the transaction's start.
  serverTime: async (db) => (await sql<{ ms: number }>`SELECT (extract(epoch from clock_timestamp()) * 1000)::float8 AS ms`.execute(db)).rows[0]!.ms,
};
