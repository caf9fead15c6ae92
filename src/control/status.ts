import { formatDuration } from '../time/durations.ts';
import { activityLine, activityOf, type AgentActivity } from './agents.ts';
import type { LiveAgent } from '../store/history/agent-reads.ts';
import { describePause, pauseOf, type ControlState, type Pause } from './state.ts';
import { describeBlackout } from '../time/blackout.ts';
import { renderWindows, windowsJson, type WindowsPicture } from './windows.ts';

/** One symbol's line of `status` (one job's, `BTC/USDT 5m`, when the agents run several timeframes). */
export interface SymbolStatus {
  symbol: string;
  /** The job's timeframe when there are several; absent: the symbol's line. */
  timeframe?: string;
  paused: Pause | undefined;
  executionOff: Pause | undefined;
  lastSuccessAt: number | null;
  lastFailureAt: number | null;
  failureStreak: number;
}

/** The live picture `status` shows (times epoch ms). */
export interface StatusPicture {
  now: number;
  agents: LiveAgent[];
  /** The pattern in force and where it comes from; null text: unknown (no agent alive and no reschedule in force). */
  pattern: { text: string | null; source: string };
  next: number | undefined;
  inFlight: { id: number; symbol: string; owner: string; scheduledAt: number }[];
  symbols: SymbolStatus[];
  /** Planned windows and EXECUTION_BLACKOUT's (docs/guards.md); absent: none shown. */
  windows?: WindowsPicture;
}

/**
 * `status` exit codes, one per state (README, Commands): 0 an agent alive and firing; 1 no agent alive; 3 alive but
 * every symbol paused; 4 every agent holds its fire because the wall clock went back (no slot fires twice); 5 every
 * agent alive disabled (ENABLE_SCHEDULER=false); 6 waiting for Diego at start; 7 not firing because of the clock's
 * offset (above CLOCK_SKEW_MAX_MS). Only 0 means slots fire.
 */
export const STATUS_EXIT = { firing: 0, noAgent: 1, paused: 3, clockBack: 4, disabled: 5, waiting: 6, clock: 7 } as const;
export type StatusState = keyof typeof STATUS_EXIT;

/** "Not firing until T (the clock went back N s)" when every live agent holds its fire, else undefined (pure). */
export function clockHold(p: StatusPicture): string | undefined {
  const holds = p.agents.map((a) => a.hold);
  if (holds.length === 0 || holds.some((h) => h === null)) return undefined;
  const last = holds.reduce((a, b) => (b!.until > a!.until ? b : a))!;
  return `Not firing until ${new Date(last.until).toISOString()} (the clock went back ${Math.round(last.backMs / 1000)} s)`;
}

/** Each symbol's (or job's, with `timeframe`) pauses at `now` (pure). */
export function symbolPauses(state: ControlState, symbol: string, now: number, timeframe?: string): Pick<SymbolStatus, 'paused' | 'executionOff'> {
  return { paused: pauseOf(state, symbol, 'cycles', now, timeframe), executionOff: pauseOf(state, symbol, 'execution', now, timeframe) };
}

/**
 * The state of a picture (pure): no agent; else the best any agent alive does (one firing is enough), firing turned
 * into `paused` when every symbol is paused.
 */
export function statusState(p: StatusPicture): StatusState {
  if (p.agents.length === 0) return 'noAgent';
  const doing = new Set<AgentActivity>(p.agents.map(activityOf));
  const best = (['firing', 'waiting', 'clockBack', 'clock', 'disabled'] as const).find((a) => doing.has(a))!;
  if (best === 'firing' && p.symbols.length > 0 && p.symbols.every((s) => s.paused !== undefined)) return 'paused';
  return best;
}

/** The exit code of a picture (pure). */
export const statusExit = (p: StatusPicture): (typeof STATUS_EXIT)[StatusState] => STATUS_EXIT[statusState(p)];

/** The first line of `status`, per state. */
const HEADLINE: Record<StatusState, string> = {
  firing: 'Firing',
  noAgent: 'No agent alive (no fresh heartbeat)',
  paused: 'Paused: agents alive, no cycle fires',
  disabled: 'Not firing: every agent alive is disabled (ENABLE_SCHEDULER=false)',
  waiting: 'Not firing yet: waiting for Diego at start',
  clockBack: 'Not firing: the clock went back',
  clock: 'Not firing because of the clock: offset above CLOCK_SKEW_MAX_MS',
};

const iso = (ms: number | null | undefined) => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** `status --json` (fields in docs/operating.md). */
export function statusJson(p: StatusPicture) {
  const pauseJson = (x: Pause | undefined) => x && { symbol: x.symbol, scope: x.scope, reason: x.reason, by: x.by, since: iso(x.since), until: iso(x.until) };
  return {
    now: iso(p.now),
    state: statusState(p),
    agents: p.agents.map((a) => ({
      owner: a.owner,
      host: a.host,
      pid: a.pid,
      version: a.version,
      startedAt: iso(a.startedAt),
      heartbeatAt: iso(a.heartbeatAt),
      activity: activityOf(a),
      notFiring: a.notFiring,
      clock: a.clock && { offsetMs: Math.round(a.clock.offsetMs * 10) / 10, rttMs: Math.round(a.clock.rttMs * 10) / 10, checkedAt: iso(a.clock.at) },
      exchangeClock: a.exchange && { offsetMs: Math.round(a.exchange.offsetMs * 10) / 10, rttMs: Math.round(a.exchange.rttMs * 10) / 10, checkedAt: iso(a.exchange.at), fireClock: a.exchange.fireClock },
      notFiringUntil: iso(a.hold?.until),
      clockBackMs: a.hold?.backMs ?? null,
    })),
    pattern: p.pattern,
    next: iso(statusExit(p) === STATUS_EXIT.clockBack ? p.agents[0]!.hold!.until : p.next),
    inFlight: p.inFlight.map((c) => ({ ...c, scheduledAt: iso(c.scheduledAt) })),
    symbols: p.symbols.map((s) => ({
      symbol: s.timeframe === undefined ? s.symbol : s.symbol.slice(0, -s.timeframe.length - 1),
      ...(s.timeframe === undefined ? {} : { timeframe: s.timeframe }),
      paused: pauseJson(s.paused) ?? null,
      executionOff: pauseJson(s.executionOff) ?? null,
      lastSuccessAt: iso(s.lastSuccessAt),
      lastFailureAt: iso(s.lastFailureAt),
      failureStreak: s.failureStreak,
    })),
    ...(p.windows ? windowsJson(p.windows) : {}),
  };
}

/** `, exchange clock +700 ms (checked 3 s ago), slots on it`: the exchange's clock as an agent last read it. */
export function exchangeLine(e: LiveAgent['exchange'], ago: (ms: number) => string): string {
  if (e === null) return '';
  const on = e.fireClock === 'exchange' ? ', slots fire on it' : e.fireClock === 'fallback' ? ', slots fall back to the local clock (unreadable)' : '';
  return `, exchange clock ${e.offsetMs >= 0 ? '+' : ''}${Math.round(e.offsetMs)} ms (checked ${ago(e.at)})${on}`;
}

/** `status` as text (pure). */
export function renderStatus(p: StatusPicture): string {
  const ago = (ms: number) => `${formatDuration(p.now - ms)} ago`;
  const lines: string[] = [];
  const state = statusState(p);
  lines.push(state === 'clockBack' ? clockHold(p) ?? HEADLINE.clockBack : HEADLINE[state]);
  for (const a of p.agents) {
    const clock = a.clock ? `, clock ${a.clock.offsetMs >= 0 ? '+' : ''}${Math.round(a.clock.offsetMs)} ms (checked ${ago(a.clock.at)})` : '';
    lines.push(`  agent ${a.owner} (${a.host}:${a.pid}, ${a.version}) started ${iso(a.startedAt)}, heartbeat ${ago(a.heartbeatAt)}${clock}${exchangeLine(a.exchange, ago)}, ${activityLine(a)}`);
  }
  const hold = p.agents.find((a) => a.hold !== null)?.hold;
  const next = state === 'clockBack' ? hold?.until : state === 'firing' || state === 'paused' ? p.next : undefined;
  lines.push(`Pattern: ${p.pattern.text ?? 'unknown'} (${p.pattern.source})${next === undefined ? '' : `; next slot ${iso(next)}`}`);
  for (const s of p.symbols) {
    const blackout = s.executionOff === undefined && p.windows?.blackoutNow ? describeBlackout(p.windows.blackoutNow) : undefined;
    const state = [s.paused && describePause(s.paused), s.executionOff && describePause(s.executionOff), blackout].filter(Boolean).join('; ') || 'firing';
    const last = `last success ${s.lastSuccessAt === null ? 'never' : iso(s.lastSuccessAt)}, last failure ${s.lastFailureAt === null ? 'never' : iso(s.lastFailureAt)}, failure streak ${s.failureStreak}`;
    lines.push(`${s.symbol}: ${state}`, `  ${last}`);
  }
  if (p.windows) lines.push(...renderWindows(p.windows));
  lines.push(p.inFlight.length === 0 ? 'In flight: none' : `In flight: ${p.inFlight.map((c) => `#${c.id} ${c.symbol} slot ${iso(c.scheduledAt)} (${c.owner})`).join(', ')}`);
  return lines.join('\n');
}
