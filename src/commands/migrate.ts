import type { CommandContext } from './context.ts';
import { withDatabase } from './reader.ts';
import { MIGRATION_COUNT } from '../store/migrate.ts';

/** `pmf-scheduler migrate`: creates or updates the schema (the writable open migrates), then exits. */
export function migrateCommand(ctx: CommandContext): Promise<number> {
  return withDatabase(ctx, {}, async (database) => {
    const applied = database.migrated ?? [];
    // A new database gets every migration: "up to date" said nothing about having just created it (issue 24 item 18).
    if (applied.length === 0) ctx.out(`Database ${database.location} is up to date`);
    else if (applied.length === MIGRATION_COUNT) ctx.out(`Created the schema in ${database.location}: applied all ${applied.length} migrations (${applied[0]} … ${applied.at(-1)})`);
    else ctx.out(`Migrated ${database.location}: applied ${applied.join(', ')}`);
    return 0;
  });
}
