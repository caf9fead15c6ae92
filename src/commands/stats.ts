import type { Kysely } from 'kysely';
import { UsageError } from './args.ts';
import { parseCronPattern, type CronPattern } from '../time/cron-pattern.ts';
import { candleScheduleOf } from '../time/candles.ts';
import { hasCycles } from '../store/history/history-query.ts';
import { renderStats, statsJson } from '../reports/render-stats.ts';
import { colorsFor } from '../reports/render-text.ts';
import { fitToWidth } from '../reports/fit-width.ts';
import { queryStats } from '../store/history/stats/stats-query.ts';
import type { StatsGrouping } from '../store/history/stats/stats-model.ts';
import type { Schema } from '../store/schema.ts';
import { DURATION_EXPECTED, parseDuration } from '../time/durations.ts';
import type { CommandContext } from './context.ts';
import { checkRange, choiceOption, cronOption, instantOption } from './options.ts';
import { withReader } from './reader.ts';
import { agentSymbols, newestAgent } from '../store/history/agent-reads.ts';
import { oldestSlot } from '../store/history/cycle-reads.ts';
import { escapeJson } from '../log/escape.ts';

const DEFAULT_WINDOW = '24h';
/** Time buckets of the picture: one character each. */
export const STATS_BUCKETS = 24;

/** What the newest agent ran (its pattern and symbols), so missed slots are counted against the real schedule. */
async function newestSchedule(db: Kysely<Schema>): Promise<{ cron: string; symbols: string[] } | undefined> {
  const row = await newestAgent(db);
  return row && { cron: row.cron_pattern, symbols: agentSymbols(row) };
}

/** `pmf-scheduler stats`: the numbers of a window per symbol and in total, with a picture per time bucket, or JSON. */
export async function statsCommand(ctx: CommandContext): Promise<number> {
  const o = ctx.opts;
  if (o.since !== undefined && o.window !== undefined) throw new UsageError('--since and --window both set the window start: give one');
  const windowText = o.window ?? (o.since === undefined ? DEFAULT_WINDOW : undefined);
  const windowMs = windowText === undefined || windowText === 'all' ? undefined : parseDuration(windowText);
  if (windowText !== undefined && windowText !== 'all' && !windowMs) throw new UsageError(`Invalid --window ${JSON.stringify(windowText)}: expected all or ${DURATION_EXPECTED}`);
  const until = instantOption('until', o.until, ctx.now);
  const sinceOption = instantOption('since', o.since, ctx.now);
  checkRange(sinceOption, until);
  const cronOverride = cronOption(o.cron);
  const by = choiceOption<StatsGrouping>('by', o.by, ['symbol', 'replica']) ?? 'symbol';
  const json = ctx.flags.json === true;

  return withReader(ctx, async (db) => {
    const end = until ?? ctx.now;
    let since = sinceOption ?? (windowMs === undefined ? undefined : end - windowMs);
    if (since === undefined) {
      // `all`: from the oldest row (an index lookup).
      since = (await oldestSlot(db)) ?? end;
    }
    const agent = await newestSchedule(db);
    // An agent of candle-aligned jobs records its candles (`1m candles | 5m candles`): each symbol's slots are their
    // union, which is what a symbol's distinct slots are counted against.
    const recorded = agent && (candleScheduleOf(agent.cron) ?? (parseCronPattern(agent.cron) as { pattern?: CronPattern }).pattern);
    const cron = cronOverride ?? recorded ?? ctx.config.cron;
    const report = await queryStats(db, { since, until, now: ctx.now, cron, symbols: agent?.symbols, buckets: STATS_BUCKETS, by });
    if (json) {
      ctx.out(escapeJson(JSON.stringify(statsJson(report), null, 2)));
      return 0;
    }
    if (!(await hasCycles(db))) {
      ctx.out('No cycles yet');
      return 0;
    }
    const label = sinceOption !== undefined ? `since ${o.since}` : windowText === 'all' ? 'over all history' : `for the last ${windowText}`;
    // On a terminal, lines broken between words to fit it (an 80-column one wrapped the legend and the latency line).
    ctx.out(fitToWidth(renderStats(report, until === undefined ? label : `${label} until ${o.until}`, ctx.now, colorsFor(ctx.colors)), ctx.width));
    return 0;
  });
}
