import { readControlState } from '../control/control-store.ts';
import { liveAgents } from '../store/history/agent-reads.ts';
import { patternSource } from '../control/state.ts';
import { windowsAt } from '../control/windows.ts';
import { renderStatus, statusExit, statusJson, symbolPauses, type StatusPicture } from '../control/status.ts';
import { DEFAULT_MAX_HEARTBEAT_AGE_MS } from '../reports/health-query.ts';
import { lastJobEvents, lastEvents } from '../store/history/cycle-lookups.ts';
import { candleScheduleOf, timeframesOfText } from '../time/candles.ts';
import { runningCycles } from '../store/history/cycle-reads.ts';
import { parseCronPattern } from '../time/cron-pattern.ts';
import type { CommandContext } from './context.ts';
import { escapeJson, escapeLines } from '../log/escape.ts';
import { withReader } from './reader.ts';

/**
 * `pmf-scheduler status [--json]`: the live picture, read-only: the agents alive, the pauses, the pattern in force
 * and the next slot, the cycles in flight, each symbol's last success, last failure and failure streak. Exit 0 only
 * when an agent alive fires; one code per state that does not (STATUS_EXIT in control/status.ts).
 */
export async function statusCommand(ctx: CommandContext): Promise<number> {
  return withReader(ctx, async (db) => {
    const now = ctx.now;
    const [agents, control] = await Promise.all([liveAgents(db, now, DEFAULT_MAX_HEARTBEAT_AGE_MS), readControlState(db)]);
    const newest = agents[0];
    const pattern = control.schedule
      ? { text: control.schedule.pattern, source: patternSource(control.schedule) }
      : newest
        ? { text: newest.cronPattern, source: `CRON_PATTERN of agent ${newest.owner}` }
        : { text: null, source: 'no agent alive to say; a new agent would start on its own CRON_PATTERN' };
    const candles = pattern.text === null ? undefined : candleScheduleOf(pattern.text);
    const parsed = pattern.text === null ? undefined : candles ? { pattern: candles } : parseCronPattern(pattern.text);
    const symbols = newest?.symbols ?? ctx.config.symbols;
    // Several timeframes: one line per job (`BTC/USDT 5m`); the newest agent's candles say which, else this environment.
    const timeframes = (newest && timeframesOfText(newest.cronPattern)) ?? ctx.config.schedule.timeframes;
    const jobs = symbols.flatMap((symbol): { symbol: string; timeframe: string | undefined }[] => (timeframes.length > 1 ? timeframes.map((timeframe) => ({ symbol, timeframe })) : [{ symbol, timeframe: undefined }]));
    const running = await runningCycles(db);
    const picture: StatusPicture = {
      now,
      windows: windowsAt(control, ctx.config.executionBlackout, now),
      agents,
      pattern,
      next: parsed !== undefined && 'pattern' in parsed ? parsed.pattern.next(now) : undefined,
      inFlight: running,
      symbols: await Promise.all(
        jobs.map(async ({ symbol, timeframe }) => {
          const { success, failure, streak } = timeframe === undefined ? await lastEvents(db, symbol, Number.MAX_SAFE_INTEGER) : await lastJobEvents(db, symbol, timeframe, Number.MAX_SAFE_INTEGER);
          return {
            symbol: timeframe === undefined ? symbol : `${symbol} ${timeframe}`,
            ...(timeframe === undefined ? {} : { timeframe }),
            ...symbolPauses(control, symbol, now, timeframe),
            lastSuccessAt: success ? Number(success.finished_at ?? success.scheduled_at) : null,
            lastFailureAt: failure ? Number(failure.finished_at ?? failure.scheduled_at) : null,
            failureStreak: streak,
          };
        }),
      ),
    };
    // Reasons and names come from the database (an operator's SQL may have written anything): escaped for the terminal.
    ctx.out(ctx.flags.json === true ? escapeJson(JSON.stringify(statusJson(picture), null, 2)) : escapeLines(renderStatus(picture)));
    return statusExit(picture);
  });
}
