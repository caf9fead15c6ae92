import { countPrunable, pruneHistory } from '../store/history/prune.ts';
import type { CommandContext } from './context.ts';
import { durationOption } from './options.ts';
import { withDatabase, withReader } from './reader.ts';

/** `pmf-scheduler prune`: deletes cycles (and attempts) older than `--older-than` or HISTORY_RETENTION_DAYS. */
export async function pruneCommand(ctx: CommandContext): Promise<number> {
  const olderThan = durationOption('older-than', ctx.opts['older-than']) ?? ctx.config.historyRetentionDays * 86_400_000;
  if (olderThan === 0) {
    ctx.out('HISTORY_RETENTION_DAYS=0 keeps everything: nothing pruned (give --older-than, such as 30d, to prune anyway)');
    return 0;
  }
  const cutoff = ctx.now - olderThan;
  const age = ctx.opts['older-than'] ?? `HISTORY_RETENTION_DAYS=${ctx.config.historyRetentionDays} days`;
  const what = `scheduled before ${new Date(cutoff).toISOString()} (older than ${age})`;

  if (ctx.flags.dryRun === true) {
    return withReader(ctx, async (db) => {
      const n = await countPrunable(db, cutoff);
      ctx.out(`Dry run: would delete ${n.cycles} cycle(s) and ${n.attempts} attempt(s) ${what}`);
      return 0;
    });
  }
  // The writable open below would create a missing file: look read-only first (exit 2, nothing created).
  const usable = await withReader(ctx, async () => 0);
  if (usable !== 0) return usable;

  return withDatabase(ctx, {}, async (database) => {
    const done = await pruneHistory(database.db, cutoff);
    ctx.out(`Deleted ${done.cycles} cycle(s) and ${done.attempts} attempt(s) ${what}; ${database.traits.freedSpace}`);
    return 0;
  });
}
