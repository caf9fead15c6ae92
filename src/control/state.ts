import type { CronPattern } from '../time/cron-pattern.ts';
import { targetParts, targetsOf } from '../records.ts';

export { targetOf, targetParts, targetsOf } from '../records.ts';

/**
 * Live control, the pure part: what is in force at a given time. The agent keeps a `ControlState` in memory
 * (refreshed by its watcher) and asks these functions at each slot, so the slot's path reads no database.
 */

/**
 * How often an agent reads `control_version`: a change made by `pause`, `resume`… takes effect within this plus one
 * query, well inside the 1 s promised. One primary-key read of one row (idle cost: docs/benchmarks.md).
 */
export const CONTROL_POLL_MS = 250;
/**
 * The same while the database pushes changes (PostgreSQL's LISTEN/NOTIFY): a push applies a change within
 * milliseconds, and this slower poll, a safety net for a push lost without a word, still applies it within about a
 * second. Timed pauses end and untaken run-now requests expire on the poll too.
 */
export const CONTROL_PUSHED_POLL_MS = 1000;

/**
 * Polls keep clear of the slot's path: none from this long before a slot (when the agent prepares it, then waits for
 * the boundary) until QUIET_AFTER_MS after it. Above the scheduler's prepare lead (100 ms).
 */
export const QUIET_BEFORE_MS = 150;
export const QUIET_AFTER_MS = 20;

/**
 * How long a poll due at `now` should wait so it does not run beside a slot of `next` (the pattern in force): 0 when it
 * is clear. Pure. Every-second patterns still get a poll at least every 250 + 170 ms.
 */
export function pollDelay(cron: Pick<CronPattern, 'next' | 'latest'>, now: number): number {
  const slot = cron.next(now);
  if (slot - now <= QUIET_BEFORE_MS) return slot - now + QUIET_AFTER_MS;
  const since = now - cron.latest(now);
  return since < QUIET_AFTER_MS ? QUIET_AFTER_MS - since : 0;
}

/** `cycles`: no cycle fires (each slot is recorded `skipped`, reason `paused`); `execution`: cycles fire, analysis only. */
export const PAUSE_SCOPES = ['cycles', 'execution'] as const;
export type PauseScope = (typeof PAUSE_SCOPES)[number];

/** The symbol of a pause that holds every symbol. */
export const ALL_SYMBOLS = '*';

/** A pause in force (a `control_pauses` row). */
export interface Pause {
  symbol: string;
  scope: PauseScope;
  reason: string;
  by: string;
  since: number;
  /** When it ends by itself; null: until `resume`. */
  until: number | null;
  /** `pause --abort`: cycles in flight when it is applied are cut. */
  abort: boolean;
  auditId: number;
  /** The guard that turned execution off (`orders_cap`, `failures`, `exchange`); absent: a person. */
  guard?: string;
  /** False: a window planned ahead (`pause --from`) whose start no agent has audited yet. */
  begun?: boolean;
}

/** Whether a target (a pause's, a run-now request's) names the job `symbol` at `timeframe`. */
export const targetCovers = (target: string, symbol: string, timeframe?: string): boolean => targetsOf(symbol, timeframe).includes(target);

/** Whether a pause stops the job `symbol` at `timeframe` (its own, its symbol's, its timeframe's or every job's). */
export const pauseCovers = (p: Pause, symbol: string, timeframe?: string): boolean => targetCovers(p.symbol, symbol, timeframe);

/** A run-now request not yet taken (a `control_triggers` row). */
export interface TriggerRequest {
  id: number;
  symbol: string;
  requestedAt: number;
  expiresAt: number;
  by: string;
  reason: string | null;
}

/** How long a run-now request waits for an agent to take it: after that it expires, never fired late. */
export const TRIGGER_EXPIRY_MS = 10_000;

/** Whether a request may still be taken at `t` (pure): before its expiry only. */
export const takeableAt = (r: TriggerRequest, t: number): boolean => t < r.expiresAt;

/** A pattern set by `reschedule` over CRON_PATTERN. */
export interface Reschedule {
  pattern: string;
  reason: string;
  by: string;
  since: number;
  auditId: number;
}

/** A pattern set by `reschedule --symbol/--timeframe` for the jobs its target names. */
export interface JobReschedule extends Reschedule {
  target: string;
}

/** Where the pattern in force comes from, in words. */
export const patternSource = (r: Reschedule | null): string =>
  r === null ? 'CRON_PATTERN' : `reschedule by ${r.by} at ${new Date(r.since).toISOString()}: ${r.reason}`;

/** The control state as of `version` (the database's `control_version`). */
export interface ControlState {
  readonly version: number;
  readonly pauses: readonly Pause[];
  /** The pattern over CRON_PATTERN; null: the environment's. */
  readonly schedule: Reschedule | null;
  /** Run-now requests pending as of `version`. */
  readonly triggers: readonly TriggerRequest[];
  /** Patterns set for some jobs (`reschedule --timeframe 5m`), over the one above; absent: none. */
  readonly jobSchedules?: readonly JobReschedule[];
}

export const NO_CONTROL: ControlState = { version: 0, pauses: [], schedule: null, triggers: [] };

/**
 * Whether a pause holds at `t`: from its `since` (a planned window, `pause --from T`, is a pause whose `since` is
 * still ahead) until its `until`, whether or not anyone has removed it yet. The claim's SQL asks the same
 * (store/claims.ts): `since <= t and (until is null or t < until)`.
 */
export const holdsAt = (p: Pick<Pause, 'since' | 'until'>, t: number): boolean => p.since <= t && (p.until === null || t < p.until);

/** Whether a timed pause's end has come by `t` (a pause not begun yet has not ended). */
const endedBy = (p: Pause, t: number): boolean => p.until !== null && t >= p.until;

/**
 * The pause of `scope` that holds the job `symbol` at `timeframe` at `t` (the most specific first: targetsOf), or
 * undefined. The one question the agent asks at a slot.
 */
export function pauseOf(state: Pick<ControlState, 'pauses'>, symbol: string, scope: PauseScope, t: number, timeframe?: string): Pause | undefined {
  const targets = targetsOf(symbol, timeframe);
  let best: Pause | undefined;
  for (const p of state.pauses) {
    if (p.scope !== scope || !holdsAt(p, t)) continue;
    const rank = targets.indexOf(p.symbol);
    if (rank >= 0 && (best === undefined || rank < targets.indexOf(best.symbol))) best = p;
  }
  return best;
}

/** The pauses that hold at `t`. */
export const pausesAt = (state: ControlState, t: number): Pause[] => state.pauses.filter((p) => holdsAt(p, t));

/** Timed pauses whose end has come by `t`: the agent removes them and audits their end. */
export const endedPauses = (state: ControlState, t: number): Pause[] => state.pauses.filter((p) => endedBy(p, t));

/** Windows planned ahead whose start has come by `t` but is not audited yet: an agent audits it, once. */
export const begunPauses = (state: ControlState, t: number): Pause[] => state.pauses.filter((p) => p.begun === false && p.since <= t && !endedBy(p, t));

/** Windows planned ahead of `t` (`pause --from`), soonest first. */
export const plannedPauses = (state: ControlState, t: number): Pause[] => state.pauses.filter((p) => p.since > t).sort((a, b) => a.since - b.since);

/** `all symbols` or the symbol, and a target's timeframe (`BTC/USDT 5m`, `all symbols 5m`), for messages. */
export function symbolLabel(target: string): string {
  const { symbol, timeframe } = targetParts(target);
  const who = symbol === ALL_SYMBOLS ? 'all symbols' : symbol;
  return timeframe === undefined ? who : `${who} ${timeframe}`;
}

/** What a pause is, in one line: `paused (all symbols) by alice@host since …, until …: exchange down`. */
/** What a pause of `scope` does, as logs and `status` say it. */
export const pauseWhat = (scope: string): string => (scope === 'execution' ? 'execution off (analysis only)' : 'paused');

export function describePause(p: Pause): string {
  const what = pauseWhat(p.scope);
  const until = p.until === null ? 'until resumed' : `until ${new Date(p.until).toISOString()}`;
  const cut = p.scope === 'execution' ? ', further attempts of cycles in flight with execution on cut' : ', cycles in flight cut';
  const from = p.begun === false ? 'from' : 'since';
  return `${what} (${symbolLabel(p.symbol)})${p.abort ? cut : ''} by ${p.by} ${from} ${new Date(p.since).toISOString()}, ${until}: ${p.reason}`;
}

/** The `cycles.reason`-side text of a slot skipped by a pause, and of a cycle sent with execution off. */
export const pauseNote = (p: Pause): string => `${p.scope === 'execution' ? 'execution paused' : 'paused'} by ${p.by}: ${p.reason}`;
