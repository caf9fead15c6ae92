import type { Kysely } from 'kysely';
import { openDatabase } from '../store/open.ts';
import type { Database, OpenOptions } from '../store/port.ts';
import type { Schema } from '../store/schema.ts';
import type { CommandContext } from './context.ts';
import { databaseExit } from './exit-codes.ts';
import { escapeControl } from '../log/escape.ts';

/**
 * Opens the configured database for a command and runs `use` on it, closing it after: a database that cannot be
 * opened is one line and its exit code (exit-codes.ts); one without our tables is exit 2 with a hint.
 */
export async function withDatabase(ctx: CommandContext, opts: OpenOptions, use: (database: Database) => Promise<number>): Promise<number> {
  let database;
  try {
    database = await openDatabase(ctx.config.database, opts);
  } catch (err) {
    return databaseExit(err, (line) => ctx.err(`pmf-scheduler: ${escapeControl(line)}`), { name: ctx.databaseSetting, target: ctx.config.database });
  }
  try {
    return await use(database);
  } catch (err) {
    if (!database.traits.isMissingTable(err)) throw err;
    ctx.err(`pmf-scheduler: Database ${database.location} lacks the history tables or is on an older schema (${escapeControl((err as Error).message)}); run \`pmf-scheduler migrate\` or start the agent once`);
    return 2;
  } finally {
    await database.close();
  }
}

/**
 * Runs `read` on a read-only connection, so it works beside a running agent and never creates, migrates or writes
 * the file.
 */
export function withReader(ctx: CommandContext, read: (db: Kysely<Schema>, location: string) => Promise<number>): Promise<number> {
  return withDatabase(ctx, { readonly: true }, (database) => read(database.db, database.location));
}
