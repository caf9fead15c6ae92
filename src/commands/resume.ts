import { readControlState } from '../control/control-store.ts';
import { ALL_SYMBOLS, describePause, pauseOf, symbolLabel, targetParts } from '../control/state.ts';
import { controlCommand } from './control-command.ts';
import { actorOf, reasonOption, symbolArg, TIMEFRAME_OPTION } from './control-args.ts';

/**
 * `pmf-scheduler resume [--symbol S] [--execution] [--planned] [--reason TEXT]`: lifts the pause of the symbol, or
 * without `--symbol` every pause of that scope in force (a guard rail's too: only a person turns execution back on);
 * `--planned` cancels the windows planned ahead as well. Nothing paused: exit 0, says so, writes nothing.
 */
export const resumeCommand = controlCommand({
  name: 'resume',
  summary: 'Lift a pause (of --symbol, else of every symbol); --execution lifts the kill switch',
  options: [
    ['--reason <text>', 'why, for the audit'],
    ['--symbol <symbol>', 'only this symbol'],
    TIMEFRAME_OPTION,
    ['--execution', 'lift the execution pause instead (a guard rail\'s too)'],
    ['--planned', 'also cancel the windows planned ahead (pause --from)'],
  ],
  parse(ctx) {
    const scope = ctx.flags.execution === true ? 'execution' : 'cycles';
    const args = { symbol: ctx.opts.symbol, timeframe: ctx.opts.timeframe, execution: scope === 'execution' || undefined };
    const planned = ctx.flags.planned === true;
    return { kind: 'resume', symbol: symbolArg(ctx), scope, planned, reason: reasonOption(ctx, false), by: actorOf(ctx), args: { ...args, planned: planned || undefined } };
  },
  async report(ctx, applied, action, db) {
    if (applied.outcome !== 'applied') {
      // A symbol held by the whole agent's pause is not lifted alone: say which pause holds it.
      const { symbol, timeframe } = targetParts(action.symbol);
      const whole = action.symbol === ALL_SYMBOLS ? undefined : pauseOf(await readControlState(db), symbol, action.scope, ctx.now, timeframe);
      const what = action.scope === 'execution' ? 'execution pause' : 'pause';
      ctx.out(`Nothing to resume: no ${what} of ${symbolLabel(action.symbol)} in force${whole ? `; it is held by the pause of ${symbolLabel(whole.symbol)} (resume without --symbol lifts it)` : ''}`);
      return 0;
    }
    for (const p of applied.lifted) ctx.out(`Lifted: ${describePause(p)}`);
    ctx.out(`Every running agent applies it within 1 s (audit #${applied.auditId})`);
    return 0;
  },
});
