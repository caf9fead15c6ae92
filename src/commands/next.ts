import { intOption } from './args.ts';
import { colorsFor } from '../reports/render-text.ts';
import { formatDuration } from '../time/durations.ts';
import type { CommandContext } from './context.ts';
import { cronOption } from './options.ts';
import { readControlState } from '../control/control-store.ts';
import type { ControlState } from '../control/state.ts';
import { renderWindows, windowsAt, windowsJson } from '../control/windows.ts';
import { openDatabase } from '../store/open.ts';
import { isSlotOf } from '../time/candles.ts';
import { liveAgents, type LiveAgent } from '../store/history/agent-reads.ts';
import { DEFAULT_MAX_HEARTBEAT_AGE_MS } from '../reports/health-query.ts';
import { exchangeLine } from '../control/status.ts';

/**
 * The control state for the planned windows, when the database can be read; `next` works without one (then it shows
 * EXECUTION_BLACKOUT's windows only), so a database that cannot be opened is no error here.
 */
async function plannedState(ctx: CommandContext): Promise<{ state: ControlState; agents: LiveAgent[] } | undefined> {
  try {
    const database = await openDatabase(ctx.config.database, { readonly: true });
    try {
      return { state: await readControlState(database.db), agents: await liveAgents(database.db, ctx.now, DEFAULT_MAX_HEARTBEAT_AGE_MS) };
    } finally {
      await database.close();
    }
  } catch {
    return undefined;
  }
}

/** `2024-01-20 11:00:00 +01:00`: the local wall time with its offset (the pattern runs in local time). */
export function localTime(ms: number): string {
  const d = new Date(ms);
  const pad = (n: number) => String(Math.abs(n)).padStart(2, '0');
  const offset = -d.getTimezoneOffset();
  const zone = `${offset < 0 ? '-' : '+'}${pad(Math.trunc(offset / 60))}:${pad(offset % 60)}`;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())} ${zone}`;
}

/**
 * `pmf-scheduler next`: the next fire times of the pattern (default CRON_PATTERN), local and UTC; then the windows
 * with execution off: EXECUTION_BLACKOUT's, and those planned ahead when the database can be read.
 */
export async function nextCommand(ctx: CommandContext): Promise<number> {
  const count = intOption('count', ctx.opts.count, 5, 1, 1000);
  const cron = cronOption(ctx.opts.cron) ?? ctx.config.cron;
  const times: number[] = [];
  for (let at = ctx.now; times.length < count; ) times.push((at = cron.next(at)));
  // Several timeframes (candle-aligned jobs, no --cron): each fire time says which jobs' timeframes fire at it.
  const { schedule } = ctx.config;
  const several = ctx.opts.cron === undefined && schedule.timeframes.length > 1;
  const timeframesAt = (t: number) => schedule.timeframes.filter((tf) => isSlotOf(schedule.patterns[tf]!, t));
  const read = await plannedState(ctx);
  const windows = windowsAt(read?.state, ctx.config.executionBlackout, ctx.now);
  // The exchange's clock as the live agents last read it: with FIRE_CLOCK=exchange the times below are its moments.
  const exchange = (read?.agents ?? []).filter((a) => a.exchange !== null);
  const shownWindows = windows.planned.length > 0 || ctx.config.executionBlackout.length > 0;
  if (ctx.flags.json === true) {
    const exchangeClock = exchange.map((a) => ({ owner: a.owner, offsetMs: Math.round(a.exchange!.offsetMs * 10) / 10, checkedAt: new Date(a.exchange!.at).toISOString(), fireClock: a.exchange!.fireClock }));
    const fireClock = ctx.config.fireClock === 'exchange' ? { fireClock: 'exchange' } : {};
    ctx.out(JSON.stringify({ cron: cron.text, timeZone: Intl.DateTimeFormat().resolvedOptions().timeZone, next: times.map((t) => new Date(t).toISOString()), ...(several ? { timeframes: times.map(timeframesAt) } : {}), ...fireClock, ...(exchange.length > 0 ? { exchangeClock } : {}), ...(shownWindows ? windowsJson(windows) : {}) }, null, 2));
    return 0;
  }
  const c = colorsFor(ctx.colors);
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  ctx.out(`${c.bold(`Next ${count} fire time(s) of "${cron.text}"`)} ${c.dim(`(local time zone ${zone}, ${ctx.timeZoneFromTz === true ? 'set by TZ' : "the system's: TZ is unset"})`)}`);
  for (const t of times) ctx.out(`  ${localTime(t)}   ${new Date(t).toISOString()}   ${c.dim(`in ${formatDuration(t - ctx.now)}`)}${several ? `   ${timeframesAt(t).join(' ')}` : ''}`);
  if (ctx.config.fireClock === 'exchange') ctx.out(c.dim("FIRE_CLOCK=exchange: these are the exchange's moments; each request leaves at local time minus the offset the agent measured"));
  for (const a of exchange) ctx.out(`  agent ${a.owner}${exchangeLine(a.exchange, (ms) => `${formatDuration(ctx.now - ms)} ago`)}`);
  for (const line of renderWindows(windows)) ctx.out(line);
  return 0;
}
