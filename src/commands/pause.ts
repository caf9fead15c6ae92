import { pause } from '../control/control-store.ts';
import { describePause } from '../control/state.ts';
import { UsageError } from './args.ts';
import type { CommandContext } from './context.ts';
import { actorOf, reasonOption, symbolOption } from './control-args.ts';
import { durationOption, instantOption } from './options.ts';
import { withDatabase } from './reader.ts';

/**
 * `pmf-scheduler pause --reason TEXT [--symbol S] [--for 30m | --until T] [--execution]`: from the next slot no cycle
 * fires (each slot is recorded `skipped`, reason `paused`), or with `--execution` cycles fire with
 * `triggerExecution: false` (and `--abort`: no further attempt of a cycle in flight with execution on). One
 * transaction: the pause and its audit row.
 */
export async function pauseCommand(ctx: CommandContext): Promise<number> {
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
  const by = actorOf(ctx);

  return withDatabase(ctx, {}, async (database) => {
    const symbol = await symbolOption(ctx, database.db);
    const args = { symbol: o.symbol, execution: scope === 'execution' || undefined, abort: abort || undefined, for: o.for, until: o.until };
    const at = ctx.clock.now();
    const { auditId } = await pause(database.db, { action: 'pause', symbol, scope, args, reason, by, at, until: until ?? null, abort });
    const line = describePause({ symbol, scope, reason, by, since: at, until: until ?? null, abort, auditId });
    ctx.out(`${line[0]!.toUpperCase()}${line.slice(1)}`);
    ctx.out(`Every running agent applies it within 1 s (audit #${auditId}; see \`pmf-scheduler status\` and \`pmf-scheduler audit\`)`);
    return 0;
  });
}
