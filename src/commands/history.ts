import { CYCLE_STATUSES } from '../records.ts';
import { UsageError, intOption } from './args.ts';
import type { Kysely } from 'kysely';
import { followStart, hasCycles, matchesFilter, queryCycle, queryCyclesAfter, queryHistory, type CycleView, type HistoryFilter } from '../store/history/history-query.ts';
import { attemptJson, cycleJson, historyTableLines, renderCycleDetail, renderHistoryTable } from '../reports/render-history.ts';
import { colorsFor, type Colors } from '../reports/render-text.ts';
import type { Schema } from '../store/schema.ts';
import type { CommandContext } from './context.ts';
import { checkRange, choiceOption, instantOption, textOption, uuidOption } from './options.ts';
import { withReader } from './reader.ts';
import { escapeJson } from '../log/escape.ts';
import { TRIGGERS } from '../records.ts';

const FILTERS = ['limit', 'status', 'symbol', 'timeframe', 'since', 'until', 'key', 'trigger'] as const;

/** `pmf-scheduler history`: recent cycles as a table or JSON, or one cycle with its attempts (`--cycle ID`). */
export async function historyCommand(ctx: CommandContext): Promise<number> {
  const o = ctx.opts;
  const json = ctx.flags.json === true;
  const cycleId = o.cycle === undefined ? undefined : intOption('cycle', o.cycle, 0, 1, Number.MAX_SAFE_INTEGER);
  const filter: HistoryFilter = {
    limit: intOption('limit', o.limit, 20, 1, 100_000),
    status: choiceOption('status', o.status, CYCLE_STATUSES),
    trigger: choiceOption('trigger', o.trigger, TRIGGERS),
    // Pairs are upper case (SYMBOLS accepts nothing else): `btc/usdt` found nothing, silently (issue 24 item 18).
    symbol: textOption('symbol', o.symbol)?.toUpperCase(),
    // A job's timeframe (candle-aligned jobs): as typed, `1M` is no `1m`.
    timeframe: textOption('timeframe', o.timeframe === undefined ? undefined : String(o.timeframe)),
    since: instantOption('since', o.since, ctx.now),
    until: instantOption('until', o.until, ctx.now),
    key: uuidOption('key', o.key),
  };
  checkRange(filter.since, filter.until);
  const combined = FILTERS.find((k) => o[k] !== undefined);
  if (cycleId !== undefined && combined) throw new UsageError(`--cycle shows one cycle: it does not combine with --${combined}`);
  const following = ctx.flags.follow === true;
  if (following && cycleId !== undefined) throw new UsageError('--follow prints cycles as they end: it does not combine with --cycle');
  for (const k of ['until', 'key'] as const) if (following && filter[k] !== undefined) throw new UsageError(`--follow prints cycles as they end: it does not combine with --${k}`);
  const c = colorsFor(ctx.colors);
  if (following) return withReader(ctx, (db) => follow(ctx, db, filter, json, c));

  return withReader(ctx, async (db, location) => {
    if (cycleId !== undefined) {
      const found = await queryCycle(db, cycleId);
      if (found === undefined) {
        ctx.err(`pmf-scheduler: No cycle #${cycleId} in ${location}`);
        return 1;
      }
      ctx.out(json ? escapeJson(JSON.stringify({ cycle: cycleJson(found.cycle), attempts: found.attempts.map(attemptJson) }, null, 2)) : renderCycleDetail(found, c));
      return 0;
    }
    const rows = await queryHistory(db, filter);
    if (json) ctx.out(escapeJson(JSON.stringify(rows.map(cycleJson), null, 2)));
    else if (rows.length > 0) ctx.out(renderHistoryTable(rows, c, ctx.width));
    else ctx.out((await hasCycles(db)) ? 'No cycles match these filters' : `No cycles yet in ${location}`);
    return 0;
  });
}

/** How often `history --follow` looks for cycles that ended: two indexed lookups, by id. */
const FOLLOW_POLL_MS = 1000;

/**
 * `history --follow`: the newest finished cycles (oldest first, like `tail -f`), then each cycle as it ends, until
 * SIGINT/SIGTERM; one JSON object per line with `--json`. Filters apply to what is printed; columns have fixed widths
 * so later rows line up under the header.
 */
async function follow(ctx: CommandContext, db: Kysely<Schema>, filter: HistoryFilter, json: boolean, c: Colors): Promise<number> {
  const stop = new AbortController();
  ctx.onSignal(() => stop.abort());
  const start = await followStart(db);
  const print = (rows: readonly CycleView[], header: boolean) => {
    if (json) for (const v of rows) ctx.out(JSON.stringify(cycleJson(v)));
    else if (rows.length > 0 || header) ctx.out(historyTableLines(rows, c, { width: ctx.width, fixed: true }).slice(header ? 0 : 1).join('\n'));
  };
  const recent = (await queryHistory(db, filter)).filter((v) => v.status !== 'running' && v.id <= start.maxId);
  print(recent.reverse(), true);
  let maxId = start.maxId;
  const pending = new Set(start.running);
  while (!stop.signal.aborted) {
    await ctx.clock.sleep(FOLLOW_POLL_MS, stop.signal);
    if (stop.signal.aborted) break;
    const ended: CycleView[] = [];
    for (const v of await queryCyclesAfter(db, maxId, [...pending])) {
      maxId = Math.max(maxId, v.id);
      if (v.status === 'running') pending.add(v.id);
      else {
        pending.delete(v.id);
        if (matchesFilter(v, filter)) ended.push(v);
      }
    }
    print(ended.sort((a, b) => (a.finishedAt ?? 0) - (b.finishedAt ?? 0) || a.id - b.id), false);
  }
  return 0;
}
