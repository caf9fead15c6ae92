import { describePause } from '../control/state.ts';
import { UsageError } from './args.ts';
import { controlCommand } from './control-command.ts';
import { actorOf, reasonOption, symbolArg, TIMEFRAME_OPTION } from './control-args.ts';
import { durationOption, instantOption } from './options.ts';
import { parseDuration } from '../time/durations.ts';

/** `--from T`: an ISO time in the future (a duration would mean "that long ago" elsewhere, so none is taken here). */
function fromOption(raw: string | undefined, now: number): number | undefined {
  if (raw === undefined) return undefined;
  const at = parseDuration(String(raw)) === undefined ? instantOption('from', raw, now) : undefined;
  if (at === undefined || at <= now) throw new UsageError(`Invalid --from ${JSON.stringify(raw)}: expected an ISO time in the future, such as ${new Date(now + 3_600_000).toISOString()} (it is ${new Date(now).toISOString()})`);
  return at;
}

/**
 * `pmf-scheduler pause --reason TEXT [--symbol S] [--from T] [--for 30m | --until T] [--execution] [--abort]`: from
 * the next slot (or from T, a window planned ahead) no cycle fires (each slot is recorded `skipped`, reason
 * `paused`), or with `--execution` cycles fire with `triggerExecution: false` (and `--abort`: no further attempt of a
 * cycle in flight with execution on).
 */
export const pauseCommand = controlCommand({
  name: 'pause',
  summary: 'Stop firing (each slot recorded skipped, reason paused), or with --execution fire with triggerExecution false',
  options: [
    ['--reason <text>', 'why (required; the audit keeps it)'],
    ['--symbol <symbol>', 'only this symbol (default: all)'],
    TIMEFRAME_OPTION,
    ['--for <span>', 'ends by itself after this long: 30m, 2h'],
    ['--from <time>', 'a window planned ahead: begins at this ISO time (applied by whichever agent is alive)'],
    ['--until <time>', 'ends by itself at this ISO time'],
    ['--execution', 'the kill switch for orders: cycles go on, analysis only'],
    ['--abort', 'also cut the cycles in flight (recorded interrupted); default: they finish'],
  ],
  parse(ctx) {
    const o = ctx.opts;
    const reason = reasonOption(ctx, true)!;
    if (o.for !== undefined && o.until !== undefined) throw new UsageError('--for and --until both set when the pause ends: give one');
    const from = fromOption(o.from, ctx.now);
    const start = from ?? ctx.now;
    const forMs = durationOption('for', o.for);
    const until = forMs !== undefined ? start + forMs : instantOption('until', o.until, ctx.now);
    if (until !== undefined && until <= start) {
      if (from === undefined) throw new UsageError(`Invalid --until ${JSON.stringify(o.until)}: expected a time in the future (it is ${new Date(ctx.now).toISOString()}; ${new Date(until).toISOString()} has passed)`);
      throw new UsageError(`Invalid --until ${JSON.stringify(o.until)}: expected a time after --from (${new Date(start).toISOString()}; ${new Date(until).toISOString()} is not)`);
    }
    const scope = ctx.flags.execution === true ? 'execution' : 'cycles';
    const abort = ctx.flags.abort === true;
    // With --execution, --abort cuts the further attempts (retries) of cycles in flight with execution on: none is
    // sent, not even analysis-only (issue 22); the attempt under way is not cut.
    const args = { symbol: o.symbol, timeframe: o.timeframe, execution: scope === 'execution' || undefined, abort: abort || undefined, from: o.from, for: o.for, until: o.until };
    return { kind: 'pause', symbol: symbolArg(ctx), scope, reason, by: actorOf(ctx), from, until: until ?? null, abort, args };
  },
  report(ctx, applied, action) {
    if (applied.outcome !== 'applied') return 1; // a pause is always written
    const line = describePause(applied.pause);
    const from = action.from;
    ctx.out(`${from === undefined ? '' : 'Planned: '}${line[0]!.toUpperCase()}${line.slice(1)}`);
    const when = from === undefined ? 'Every running agent applies it within 1 s' : `Every running agent applies it at ${new Date(from).toISOString()}, its start and end audited`;
    ctx.out(`${when} (audit #${applied.auditId}; see \`pmf-scheduler status\` and \`pmf-scheduler audit\`)`);
    return 0;
  },
});
