import type { CommandContext } from './context.ts';
import { withDatabase } from './reader.ts';

/** `pmf-scheduler migrate`: creates or updates the schema (the writable open migrates), then exits. */
export function migrateCommand(ctx: CommandContext): Promise<number> {
  return withDatabase(ctx, {}, async (database) => {
    ctx.out(`Database ${database.location} is up to date`);
    return 0;
  });
}
