import { pause } from '../control/control-store.ts';
import { describePause } from '../control/state.ts';
import { UsageError } from './args.ts';
import type { CommandContext } from './context.ts';
import { actorOf, reasonOption, symbolOption } from './control-args.ts';
import { durationOption, instantOption } from './options.ts';
import { parseDuration } from '../time/durations.ts';
import { withDatabase } from './reader.ts';

/** `--from T`: an ISO time in the future (a duration would mean "that long ago" elsewhere, so none is taken here). */
function fromOption(raw: string | undefined, now: number): number | undefined {
  if (raw === undefined) return undefined;
  const at = parseDuration(String(raw)) === undefined ? instantOption('from', raw, now) : undefined;
  if (at === undefined || at <= now) throw new UsageError(`Invalid --from ${JSON.stringify(raw)}: expected an ISO time in the future, such as ${new Date(now + 3_600_000).toISOString()} (it is ${new Date(now).toISOString()})`);
  return at;
}

/**
 * `pmf-scheduler pause --reason TEXT [--symbol S] [--from T] [--for 30m | --until T] [--execution]`: from the next
 * slot (or from T, a window planned ahead) no cycle fires (each slot is recorded `skipped`, reason `paused`), or with
 * `--execution` cycles fire with `triggerExecution: false` (and `--abort`: no further attempt of a cycle in flight
 * with execution on). One transaction: the pause and its audit row.
 */
export async function pauseCommand(ctx: CommandContext): Promise<number> {
  const o = ctx.opts;
  const reason = reasonOption(ctx, true)!;
  if (o.for !== undefined && o.until !== undefined) throw new UsageError('--for and --until both set when the pause ends: give one');
  const from = fromOption(o.from, ctx.now);
  const start = from ?? ctx.now;
  const forMs = durationOption('for', o.for);
  const until = forMs !== undefined ? start + forMs : instantOption('until', o.until, ctx.now);
  if (until !== undefined && until <= start) {
    const after = from === undefined ? `a time in the future (it is ${new Date(ctx.now).toISOString()}` : `a time after --from (${new Date(start).toISOString()}`;
    throw new UsageError(`Invalid --until ${JSON.stringify(o.until)}: expected ${after}; ${new Date(until).toISOString()} is not)`);
  }
  const scope = ctx.flags.execution === true ? 'execution' : 'cycles';
  const abort = ctx.flags.abort === true;
  // With --execution, --abort cuts the further attempts (retries) of cycles in flight with execution on: none is
  // sent, not even analysis-only (issue 22); the attempt under way is not cut.
  const by = actorOf(ctx);

  return withDatabase(ctx, {}, async (database) => {
    const symbol = await symbolOption(ctx, database.db);
    const args = { symbol: o.symbol, execution: scope === 'execution' || undefined, abort: abort || undefined, from: o.from, for: o.for, until: o.until };
    const at = ctx.clock.now();
    const { auditId } = await pause(database.db, { action: 'pause', symbol, scope, args, reason, by, at, until: until ?? null, abort, from });
    const line = describePause({ symbol, scope, reason, by, since: from ?? at, until: until ?? null, abort, auditId, ...(from === undefined ? {} : { begun: false }) });
    ctx.out(`${from === undefined ? '' : 'Planned: '}${line[0]!.toUpperCase()}${line.slice(1)}`);
    const when = from === undefined ? 'Every running agent applies it within 1 s' : `Every running agent applies it at ${new Date(from).toISOString()}, its start and end audited`;
    ctx.out(`${when} (audit #${auditId}; see \`pmf-scheduler status\` and \`pmf-scheduler audit\`)`);
    return 0;
  });
}
