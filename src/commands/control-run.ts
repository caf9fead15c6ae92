import { applyControl } from '../control/apply.ts';
import { escapeControl } from '../log/escape.ts';
import type { CommandContext } from './context.ts';
import type { ControlCommand } from './control-command.ts';
import { checkSymbol } from './control-args.ts';
import { withDatabase } from './reader.ts';

/**
 * Runs a control command: its arguments parsed into an action (bad input: exit 2 before the database is opened),
 * the symbol checked, the action applied in its one transaction, its report. Refused: one line, exit 1.
 */
export async function runControl(c: ControlCommand, ctx: CommandContext): Promise<number> {
  const action = c.parse(ctx);
  return withDatabase(ctx, {}, async (database) => {
    await checkSymbol(ctx, database.db, action);
    const applied = await applyControl(database.db, action, () => ctx.clock.now());
    if (applied.outcome === 'refused') {
      ctx.err(`pmf-scheduler: ${escapeControl(applied.why)}`);
      return 1;
    }
    return c.report(ctx, applied, action, database.db);
  });
}
