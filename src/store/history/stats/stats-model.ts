import { CYCLE_STATUSES, type AttemptOutcome, type CycleStatus } from '../../../records.ts';
import type { CronPattern } from '../../../time/cron-pattern.ts';


/** Slots newer than this are not yet counted as missed: their row may be a few ms from being written. */
export const MISSED_GRACE_MS = 5_000;

/** What `queryStats` covers and what it may compare with. */
export interface StatsWindow {
  /** Epoch ms, inclusive; cycles are placed in the window by their scheduled time. */
  since: number;
  /** Epoch ms, exclusive; default: no end. */
  until?: number;
  /** The present (the caller's clock), for missed slots and the clock checks shown. */
  now: number;
  /** The pattern the agent ran; missed slots are counted only when it is given. */
  cron?: CronPattern;
  /** Symbols the agent runs: they appear (and count missed slots) even with no row in the window. */
  symbols?: readonly string[];
  /** How many time buckets to cut the window into for the picture (0 or unset: none). */
  buckets?: number;
  /** Group the numbers by symbol (default) or by replica, the agent that ran each cycle (`cycles.owner`). */
  by?: StatsGrouping;
}

/** What `stats` groups by: the job's symbol, or the replica that ran the cycle (high availability). */
export type StatsGrouping = 'symbol' | 'replica';

/** Nearest-rank percentiles of one series, in ms. */
export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The numbers of one symbol, or of all symbols together. */
export interface SymbolStats {
  cycles: number;
  byStatus: Record<CycleStatus, number>;
  /** Succeeded over cycles that ran to an end or were cut (succeeded, failed, interrupted); null when none. */
  successRate: number | null;
  /** Attempts of the cycles that ran (succeeded, failed, interrupted). */
  attempts: number;
  attemptsPerCycle: number | null;
  /** Share of the cycles that ran which needed more than one attempt. */
  retryRate: number | null;
  /** Diego latency of successful attempts. */
  latency: Percentiles | null;
  /** Fire lateness: a scheduled cycle's start minus its slot. */
  lateness: Percentiles | null;
  /** Failed attempts by outcome. */
  failuresByOutcome: Partial<Record<AttemptOutcome, number>>;
  /** Cycles whose answer says an order was placed. */
  executions: number;
  /** Slots skipped because a live pause held them (`pmf-scheduler pause`): decided, not missed. */
  pausedSlots: number;
  /** Cycles run now (`pmf-scheduler trigger`), of any status. */
  manualCycles: number;
  /** The newest success and failure before the window's end (not only inside it). */
  lastSuccess: { cycleId: number; at: number } | null;
  lastFailure: { cycleId: number; at: number; error: string | null } | null;
  /** Failed cycles since the last success (skipped and interrupted cycles neither break nor extend it). */
  failureStreak: number;
  /** Slots the pattern had in the window (from the symbol's first row on) with no scheduled cycle; null without a pattern. */
  expectedSlots: number | null;
  missedSlots: number | null;
}

/** One time bucket of the picture. */
export interface StatsBucket {
  start: number;
  end: number;
  cycles: number;
  succeeded: number;
  /** Cycles that ran: succeeded, failed, interrupted. */
  ran: number;
  successRate: number | null;
  latencyP50: number | null;
  latencyMax: number | null;
  missedSlots: number | null;
}

/** Everything `stats` shows; the agent's periodic summary prints `total`. */
export interface StatsReport {
  since: number;
  until: number | null;
  cron: string | null;
  total: SymbolStats;
  /** Per symbol; empty when grouped by replica. */
  symbols: Record<string, SymbolStats>;
  /**
   * Per replica (`cycles.owner`), present only when grouped by replica. Missed slots are the job's, not a
   * replica's (any replica may fire any slot), so they are counted in `total` only.
   */
  replicas?: Record<string, SymbolStats>;
  buckets: StatsBucket[];
  /**
   * How long no agent ran within the window's counted part (from the first recorded slot to now): its slots are not
   * missed slots. Null without a pattern, or on a database where no agent ever registered.
   */
  downtimeMs: number | null;
  /** Each agent's last clock check (NTP_SERVER) made before the window's end, newest agent first; empty: none. */
  clockChecks: { owner: string; offsetMs: number; rttMs: number; at: number }[];
}

export const RAN: readonly CycleStatus[] = ['succeeded', 'failed', 'interrupted'];
export const num = (v: unknown): number => Number(v ?? 0);
export const ratio = (a: number, b: number): number | null => (b === 0 ? null : a / b);


/** A group's numbers before anything is counted. */
export function emptyStats(): SymbolStats {
  return {
    cycles: 0,
    byStatus: Object.fromEntries(CYCLE_STATUSES.map((s) => [s, 0])) as Record<CycleStatus, number>,
    successRate: null,
    attempts: 0,
    attemptsPerCycle: null,
    retryRate: null,
    latency: null,
    lateness: null,
    failuresByOutcome: {},
    executions: 0,
    pausedSlots: 0,
    manualCycles: 0,
    lastSuccess: null,
    lastFailure: null,
    failureStreak: 0,
    expectedSlots: null,
    missedSlots: null,
  };
}
