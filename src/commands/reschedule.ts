import { cronPattern } from '../config/parsers.ts';
import { UsageError } from './args.ts';
import { controlCommand } from './control-command.ts';
import { actorOf, reasonOption, symbolArg, TIMEFRAME_OPTION } from './control-args.ts';
import { ALL_SYMBOLS, symbolLabel } from '../control/state.ts';

/**
 * `pmf-scheduler reschedule PATTERN --reason TEXT` / `reschedule --reset`: every running agent switches to PATTERN
 * (checked exactly as CRON_PATTERN is) from now, without a restart: its next slot is the new pattern's first after
 * the last it fired and after the switch; `--reset` returns to CRON_PATTERN. No slot fires twice across the switch:
 * the slot key still lets one claim per slot in. `--symbol`/`--timeframe` move only the jobs they name (a 5m job onto
 * `0 * * * * *`); without them every job moves, and the patterns set for some jobs end.
 */
export const rescheduleCommand = controlCommand({
  name: 'reschedule [pattern]',
  summary: 'Switch every running agent to PATTERN from now (checked as CRON_PATTERN); --reset: back to CRON_PATTERN',
  options: [
    ['--reason <text>', 'why (required with a PATTERN)'],
    ['--reset', "return to the environment's CRON_PATTERN"],
    ['--symbol <symbol>', 'only the jobs of this symbol (default: all)'],
    TIMEFRAME_OPTION,
  ],
  parse(ctx) {
    const raw = ctx.args[0];
    const reset = ctx.flags.reset === true;
    if (reset && raw !== undefined) throw new UsageError(`reschedule takes a PATTERN or --reset, not both (got ${JSON.stringify(raw)} and --reset)`);
    if (!reset && raw === undefined) throw new UsageError('Missing PATTERN: expected a cron pattern such as "*/30 * * * * *", or --reset for CRON_PATTERN');
    let pattern: string | null = null;
    if (raw !== undefined) {
      const parsed = cronPattern(raw);
      if ('expected' in parsed) throw new UsageError(`Invalid PATTERN ${JSON.stringify(raw)}: expected ${parsed.expected}`);
      pattern = parsed.value.text;
    }
    const reason = reasonOption(ctx, !reset);
    const target = symbolArg(ctx);
    const named = target === ALL_SYMBOLS ? {} : { target };
    const args = { pattern: pattern ?? undefined, reset: reset || undefined, symbol: ctx.opts.symbol, timeframe: ctx.opts.timeframe };
    return { kind: 'reschedule', pattern, reason, by: actorOf(ctx), ...named, args };
  },
  report(ctx, applied, action) {
    if (applied.outcome !== 'applied') {
      ctx.out('Nothing to reset: no pattern set by reschedule; CRON_PATTERN is in force');
      return 0;
    }
    const jobs = action.target === undefined ? '' : ` for ${symbolLabel(action.target)}`;
    ctx.out(action.pattern === null ? `Pattern${jobs} back to each agent’s CRON_PATTERN` : `Pattern ${action.pattern} in force${jobs} over CRON_PATTERN`);
    ctx.out(`Every running agent switches within 1 s, from now (audit #${applied.auditId})`);
    return 0;
  },
});
