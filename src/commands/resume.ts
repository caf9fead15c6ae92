import { readControlState, resume } from '../control/control-store.ts';
import { ALL_SYMBOLS, describePause, pauseOf, symbolLabel } from '../control/state.ts';
import type { CommandContext } from './context.ts';
import { actorOf, reasonOption, symbolOption } from './control-args.ts';
import { withDatabase } from './reader.ts';

/**
 * `pmf-scheduler resume [--symbol S] [--execution] [--planned] [--reason TEXT]`: lifts the pause of the symbol, or
 * without `--symbol` every pause of that scope in force (a guard rail's too: only a person turns execution back on);
 * `--planned` cancels the windows planned ahead as well. Nothing paused: exit 0, says so, writes nothing.
 */
export async function resumeCommand(ctx: CommandContext): Promise<number> {
  const reason = reasonOption(ctx, false);
  const scope = ctx.flags.execution === true ? 'execution' : 'cycles';
  const by = actorOf(ctx);
  const what = scope === 'execution' ? 'execution pause' : 'pause';
  return withDatabase(ctx, {}, async (database) => {
    const symbol = await symbolOption(ctx, database.db);
    const args = { symbol: ctx.opts.symbol, execution: scope === 'execution' || undefined };
    const planned = ctx.flags.planned === true;
    const { lifted, auditId } = await resume(database.db, { action: 'resume', symbol, scope, args: { ...args, planned: planned || undefined }, reason, by, at: ctx.clock.now(), planned });
    if (lifted.length === 0) {
      // A symbol held by the whole agent's pause is not lifted alone: say which pause holds it.
      const whole = symbol === ALL_SYMBOLS ? undefined : pauseOf(await readControlState(database.db), symbol, scope, ctx.now);
      ctx.out(`Nothing to resume: no ${what} of ${symbolLabel(symbol)} in force${whole ? `; it is held by the pause of ${symbolLabel(whole.symbol)} (resume without --symbol lifts it)` : ''}`);
      return 0;
    }
    for (const p of lifted) ctx.out(`Lifted: ${describePause(p)}`);
    ctx.out(`Every running agent applies it within 1 s (audit #${auditId})`);
    return 0;
  });
}
