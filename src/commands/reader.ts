import type { Kysely } from 'kysely';
import { DatabaseOpenError, openDatabase } from '../store/database.ts';
import type { Schema } from '../store/schema.ts';
import type { CommandContext } from './context.ts';

/** A query that met a database without our tables: not ours, or a schema older than this version. */
export function isMissingTable(err: unknown): boolean {
  const e = err as { message?: unknown; code?: unknown };
  return e?.code === '42P01' || (typeof e?.message === 'string' && /no such table/i.test(e.message));
}

/**
 * Runs `read` on a read-only connection, so it works beside a running agent and never creates, migrates or writes
 * the file. An unusable or missing database, or one without our tables, is exit 2 with one line; an unreachable
 * server exit 1.
 */
export async function withReader(ctx: CommandContext, read: (db: Kysely<Schema>, location: string) => Promise<number>): Promise<number> {
  let database;
  try {
    database = await openDatabase(ctx.config.database, { readonly: true });
  } catch (err) {
    if (!(err instanceof DatabaseOpenError)) throw err;
    ctx.err(`pmf-scheduler: ${err.message}`);
    // A server that does not answer is a runtime failure (1), not a usage error: the same command may work later.
    return err.kind === 'unreachable' ? 1 : 2;
  }
  try {
    return await read(database.db, database.location);
  } catch (err) {
    if (!isMissingTable(err)) throw err;
    ctx.err(`pmf-scheduler: Database ${database.location} lacks the history tables or is on an older schema (${(err as Error).message}); run \`pmf-scheduler migrate\` or start the agent once`);
    return 2;
  } finally {
    await database.close();
  }
}
