import { pauseNote, pauseOf, type Pause } from '../control/state.ts';
import type { SkipReason } from '../records.ts';
import type { ClockVerdict } from './upkeep/clock-check.ts';

/**
 * The one slot decision (issue 21 item 2): whether a slot or a run-now request fires, and with which execution
 * flag, or why it does not. Pure: every caller gathers its facts (the pauses from its copy or from a database read,
 * the overlap, the clock) and asks this, so the checks come in one order everywhere: a slot prepared ahead, a
 * slot fired fresh, a run-now request, a late send re-checked against the database, and each retry.
 */


/**
 * Recurring windows in which execution is off (EXECUTION_BLACKOUT, issue 22 section 2): given a time, why execution
 * is off then, or undefined. Provided by the guards; the default has none.
 */
export type ExecutionBlackout = (t: number) => string | undefined;
export const NO_BLACKOUT: ExecutionBlackout = () => undefined;

export interface SlotFacts {
  symbol: string;
  /** The job's timeframe: a pause of `--timeframe` holds it too; absent: only pauses of its symbol and of all. */
  timeframe?: string;
  /** The moment decided for: the slot (or the take of a run-now request), or the time of a late send or a retry. */
  at: number;
  /** The pauses known: the agent's copy, or what the database just answered (a claim, a re-check). */
  pauses: readonly Pause[];
  /** A cycle of the symbol would still run after the slot (overlap policy: skip). False for a cycle's own re-checks. */
  overlap: boolean;
  clock: ClockVerdict;
  /** The agent is stopping: a request taken now is recorded, not fired. */
  stopping: boolean;
  /** TRIGGER_EXECUTION as configured: false sends every request with `triggerExecution: false`. */
  triggerExecution: boolean;
  /** Execution blackout windows from the configuration (guards); default NO_BLACKOUT. */
  executionBlackout?: ExecutionBlackout;
  /**
   * Set for an attempt of a cycle already in flight (a retry): whether the cycle went out with execution on. A
   * `pause --execution --abort` then cuts it (no further attempt) rather than sending the retry analysis-only.
   */
  inFlight?: { executionOn: boolean };
}

/** Fire with execution on, fire analysis-only (and why), or skip (and why). */
export type SlotDecision =
  | { kind: 'fire'; execution: true }
  | { kind: 'fire'; execution: false; why: string }
  | { kind: 'skip'; reason: SkipReason; why: string };

/**
 * The decision (pure). Order: the stop, a pause of cycles, the overlap policy, the clock, then the execution flag
 * (configuration, a pause of execution, a blackout window). A retry under `pause --execution --abort` is cut
 * (skip, reason `paused`); under a plain `pause --execution` it fires analysis-only.
 */
export function decideSlot(f: SlotFacts): SlotDecision {
  if (f.stopping) return { kind: 'skip', reason: 'shutdown', why: 'the agent is stopping' };
  const paused = pauseOf(f, f.symbol, 'cycles', f.at, f.timeframe);
  if (paused && f.inFlight === undefined) return { kind: 'skip', reason: 'paused', why: pauseNote(paused) };
  if (f.overlap) return { kind: 'skip', reason: 'overlap', why: 'previous cycle still running' };
  // A retry is no new slot: the clock's verdict was the slot's.
  if (f.clock.blocked && f.inFlight === undefined) return { kind: 'skip', reason: f.clock.reason, why: f.clock.why };
  const off = pauseOf(f, f.symbol, 'execution', f.at, f.timeframe);
  if (off) {
    if (off.abort && f.inFlight?.executionOn) return { kind: 'skip', reason: 'paused', why: `${pauseNote(off)} (--abort: no further attempt)` };
    return { kind: 'fire', execution: false, why: pauseNote(off) };
  }
  const blackout = (f.executionBlackout ?? NO_BLACKOUT)(f.at);
  if (blackout !== undefined) return { kind: 'fire', execution: false, why: blackout };
  if (!f.triggerExecution) return { kind: 'fire', execution: false, why: CONFIGURED_OFF };
  return { kind: 'fire', execution: true };
}

/**
 * The stricter of two decisions for the same send: the agent's copy and the database's answer (the claim's own
 * statement) each may know a change the other does not. A skip wins over a fire, execution off over on.
 */
export function stricter(a: SlotDecision, b: SlotDecision): SlotDecision {
  if (a.kind === 'skip') return a;
  if (b.kind === 'skip') return b;
  return a.execution ? b : a;
}

/** Why execution is off when only the configuration says so (nothing recorded: it is the agent's setting). */
export const CONFIGURED_OFF = 'TRIGGER_EXECUTION=false';

/**
 * The `executionOff` text a cycle records and logs for a fire decision: why execution is off (a pause, a blackout
 * window), or undefined when it is on, or off only by TRIGGER_EXECUTION=false (the requests say false all the same).
 */
export const executionOffOf = (d: SlotDecision): string | undefined => (d.kind === 'fire' && !d.execution && d.why !== CONFIGURED_OFF ? d.why : undefined);

/**
 * MAX_LATENESS_MS unset: half the gap from the slot to the next one (the cycle's deadline). A request later than
 * that would reach Diego nearer the next slot's analysis than its own, about a candle that may have moved on; and it
 * leaves the other half of the interval for the answer and its retries. Always at least 1 ms.
 */
export function maxLatenessOf(slot: number, next: number, configured: number | undefined): number {
  return configured ?? Math.max(1, Math.floor((next - slot) / 2));
}

/** Whether a first request may still leave at `now`: `fresh`, or `late` by `lateMs` over `limitMs` (issue 23 §3). */
export type Freshness = { kind: 'fresh' } | { kind: 'late'; lateMs: number; limitMs: number };

/** The freshness decision (pure): `limitMs` undefined (a startup cycle, not a moment of the pattern) is always fresh. */
export function freshness(slot: number, now: number, limitMs: number | undefined): Freshness {
  const lateMs = now - slot;
  return limitMs !== undefined && lateMs > limitMs ? { kind: 'late', lateMs, limitMs } : FRESH;
}
/** One object for every on-time send: the slot's path allocates nothing for the check. */
const FRESH: Freshness = Object.freeze({ kind: 'fresh' });
