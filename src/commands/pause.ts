import { describePause } from '../control/state.ts';
import { UsageError } from './args.ts';
import { controlCommand } from './control-command.ts';
import { actorOf, reasonOption, symbolArg } from './control-args.ts';
import { durationOption, instantOption } from './options.ts';

/**
 * `pmf-scheduler pause --reason TEXT [--symbol S] [--for 30m | --until T] [--execution] [--abort]`: from the next slot
 * no cycle fires (each slot is recorded `skipped`, reason `paused`), or with `--execution` cycles fire with
 * `triggerExecution: false` (and `--abort`: no further attempt of a cycle in flight with execution on).
 */
export const pauseCommand = controlCommand({
  name: 'pause',
  summary: 'Stop firing (each slot recorded skipped, reason paused), or with --execution fire with triggerExecution false',
  options: [
    ['--reason <text>', 'why (required; the audit keeps it)'],
    ['--symbol <symbol>', 'only this symbol (default: all)'],
    ['--for <span>', 'ends by itself after this long: 30m, 2h'],
    ['--until <time>', 'ends by itself at this ISO time'],
    ['--execution', 'the kill switch for orders: cycles go on, analysis only'],
    ['--abort', 'also cut the cycles in flight (recorded interrupted); default: they finish'],
  ],
  parse(ctx) {
    const o = ctx.opts;
    const reason = reasonOption(ctx, true)!;
    if (o.for !== undefined && o.until !== undefined) throw new UsageError('--for and --until both set when the pause ends: give one');
    const forMs = durationOption('for', o.for);
    const until = forMs !== undefined ? ctx.now + forMs : instantOption('until', o.until, ctx.now);
    if (until !== undefined && until <= ctx.now) {
      throw new UsageError(`Invalid --until ${JSON.stringify(o.until)}: expected a time in the future (it is ${new Date(ctx.now).toISOString()}; ${new Date(until).toISOString()} has passed)`);
    }
    const scope = ctx.flags.execution === true ? 'execution' : 'cycles';
    const abort = ctx.flags.abort === true;
    // With --execution, --abort cuts the further attempts (retries) of cycles in flight with execution on: none is
    // sent, not even analysis-only (issue 22); the attempt under way is not cut.
    const args = { symbol: o.symbol, execution: scope === 'execution' || undefined, abort: abort || undefined, for: o.for, until: o.until };
    return { kind: 'pause', symbol: symbolArg(ctx), scope, reason, by: actorOf(ctx), until: until ?? null, abort, args };
  },
  report(ctx, applied) {
    if (applied.outcome !== 'applied') return 1; // a pause is always written
    const line = describePause(applied.pause);
    ctx.out(`${line[0]!.toUpperCase()}${line.slice(1)}`);
    ctx.out(`Every running agent applies it within 1 s (audit #${applied.auditId}; see \`pmf-scheduler status\` and \`pmf-scheduler audit\`)`);
    return 0;
  },
});
