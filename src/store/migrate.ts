import { Migrator, type Kysely } from 'kysely';
import { migrations } from '../../migrations/index.ts';
import { DatabaseOpenError } from './port.ts';
import type { Schema } from './schema.ts';

/** How many migrations this version has: a new database gets them all. */
export const MIGRATION_COUNT = Object.keys(migrations).length;

/**
 * Brings the schema up to date; failures become a DatabaseOpenError (`not_writable` when `isReadOnly` says the
 * storage refused the write). `tableSchema` names the PostgreSQL schema that holds kysely's own migration tables
 * (without it kysely would take one found in any schema for ours).
 */
export async function migrate(
  db: Kysely<Schema>,
  location: string,
  opts: { tableSchema?: string; isReadOnly?: (err: unknown) => boolean; exclusive?: <T>(work: () => Promise<T>) => Promise<T> } = {},
): Promise<string[]> {
  const migrator = new Migrator({ db, provider: { getMigrations: async () => migrations }, migrationTableSchema: opts.tableSchema });
  // `exclusive` holds a lock across processes around the whole run, for a backend whose kysely adapter takes none:
  // kysely reads the applied migrations inside it, so a process that waited finds them applied and does nothing.
  // kysely reports a failed migration as a value; thrown here, so that `exclusive` rolls back.
  const run = async () => {
    const { error, results } = await migrator.migrateToLatest();
    if (error) throw error;
    return results ?? [];
  };
  try {
    // The lock only when there is work: agents restarting on a current schema never queue behind one another.
    if (opts.exclusive && (await migrator.getMigrations()).every((m) => m.executedAt !== undefined)) return [];
    const results = opts.exclusive ? await opts.exclusive(run) : await run();
    return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
  } catch (error) {
    const e = error as Error;
    throw new DatabaseOpenError(opts.isReadOnly?.(error) ? 'not_writable' : 'migration', `Cannot migrate database ${location}: ${e.message ?? String(error)}`, error);
  }
}
