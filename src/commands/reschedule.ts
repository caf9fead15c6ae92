import { SETTINGS } from '../config.ts';
import { reschedule } from '../control/control-store.ts';
import { ALL_SYMBOLS } from '../control/state.ts';
import { UsageError } from './args.ts';
import type { CommandContext } from './context.ts';
import { actorOf, reasonOption } from './control-args.ts';
import { withDatabase } from './reader.ts';

/**
 * `pmf-scheduler reschedule PATTERN --reason TEXT` / `reschedule --reset`: every running agent switches to PATTERN
 * (checked exactly as CRON_PATTERN is) from the next slot it computes, without a restart; `--reset` returns to
 * CRON_PATTERN. No slot fires twice across the switch: each agent computes its next slot after the last it fired,
 * and the slot key still lets one claim per slot in.
 */
export async function rescheduleCommand(ctx: CommandContext): Promise<number> {
  const raw = ctx.args[0];
  const reset = ctx.flags.reset === true;
  if (reset && raw !== undefined) throw new UsageError(`reschedule takes a PATTERN or --reset, not both (got ${JSON.stringify(raw)} and --reset)`);
  if (!reset && raw === undefined) throw new UsageError('Missing PATTERN: expected a cron pattern such as "*/30 * * * * *", or --reset for CRON_PATTERN');
  let pattern: string | null = null;
  if (raw !== undefined) {
    const parsed = SETTINGS.cron.parse(raw);
    if ('expected' in parsed) throw new UsageError(`Invalid PATTERN ${JSON.stringify(raw)}: expected ${parsed.expected}`);
    pattern = parsed.value.text;
  }
  const reason = reasonOption(ctx, !reset);
  const by = actorOf(ctx);
  return withDatabase(ctx, {}, async (database) => {
    const auditId = await reschedule(database.db, { action: 'reschedule', symbol: ALL_SYMBOLS, scope: 'pattern', args: { pattern: pattern ?? undefined, reset: reset || undefined }, reason, by, at: ctx.clock.now(), pattern });
    if (auditId === undefined) {
      ctx.out('Nothing to reset: no pattern set by reschedule; CRON_PATTERN is in force');
      return 0;
    }
    ctx.out(pattern === null ? 'Pattern back to each agent’s CRON_PATTERN' : `Pattern ${pattern} in force over CRON_PATTERN`);
    ctx.out(`Every running agent switches within 1 s, from the next slot it computes (audit #${auditId})`);
    return 0;
  });
}
