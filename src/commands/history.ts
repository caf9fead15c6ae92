import { UsageError, intOption } from '../cli-args.ts';
import { hasCycles, queryCycle, queryHistory, type HistoryFilter } from '../reports/history-query.ts';
import { attemptJson, cycleJson, renderCycleDetail, renderHistoryTable } from '../reports/render-history.ts';
import { colorsFor } from '../reports/render-text.ts';
import { STATUSES } from '../reports/stats-query.ts';
import type { CommandContext } from './context.ts';
import { checkRange, choiceOption, instantOption, textOption } from './options.ts';
import { withReader } from './reader.ts';

const FILTERS = ['limit', 'status', 'symbol', 'since', 'until'] as const;

/** `pmf-scheduler history`: recent cycles as a table or JSON, or one cycle with its attempts (`--cycle ID`). */
export async function historyCommand(ctx: CommandContext): Promise<number> {
  const o = ctx.opts;
  const json = ctx.flags.json === true;
  const cycleId = o.cycle === undefined ? undefined : intOption('cycle', o.cycle, 0, 1, Number.MAX_SAFE_INTEGER);
  const filter: HistoryFilter = {
    limit: intOption('limit', o.limit, 20, 1, 100_000),
    status: choiceOption('status', o.status, STATUSES),
    symbol: textOption('symbol', o.symbol),
    since: instantOption('since', o.since, ctx.now),
    until: instantOption('until', o.until, ctx.now),
  };
  checkRange(filter.since, filter.until);
  const combined = FILTERS.find((k) => o[k] !== undefined);
  if (cycleId !== undefined && combined) throw new UsageError(`--cycle shows one cycle: it does not combine with --${combined}`);
  const c = colorsFor(ctx.colors);

  return withReader(ctx, async (db, location) => {
    if (cycleId !== undefined) {
      const found = await queryCycle(db, cycleId);
      if (found === undefined) {
        ctx.err(`pmf-scheduler: No cycle #${cycleId} in ${location}`);
        return 1;
      }
      ctx.out(json ? JSON.stringify({ cycle: cycleJson(found.cycle), attempts: found.attempts.map(attemptJson) }, null, 2) : renderCycleDetail(found, c));
      return 0;
    }
    const rows = await queryHistory(db, filter);
    if (json) ctx.out(JSON.stringify(rows.map(cycleJson), null, 2));
    else if (rows.length > 0) ctx.out(renderHistoryTable(rows, c));
    else ctx.out((await hasCycles(db)) ? 'No cycles match these filters' : `No cycles yet in ${location}`);
    return 0;
  });
}
