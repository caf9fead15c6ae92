import type { Clock } from '../time/clock.ts';
import type { DiegoClient } from '../diego/client.ts';
import type { Logger } from '../log/logger.ts';
import type { RetryPolicy } from './retry-policy.ts';
import type { AttemptOutcome, CycleStatus, Trigger } from '../records.ts';
import type { HistoryStore } from '../store/port.ts';
import type { SendCheck } from './send-check.ts';

/** One symbol's cycle for one slot. */
export interface CycleJob {
  symbol: string;
  trigger: Trigger;
  /** The slot's time (for `startup`, the start time). */
  slot: number;
  /** The symbol's next slot: no attempt starts after it and none runs past it. */
  deadline: number;
  /**
   * Aborted by the agent when the deadline slot itself fires. A timer set for the deadline wakes a few ms late, so
   * without this the old attempt would still be in flight at the boundary and the next slot would be skipped.
   */
  cut?: AbortSignal;
  /** Set while execution is paused (`pause --execution`): why; the request then says `triggerExecution: false`. */
  executionOff?: string;
  /** The slot decision at each send (slots.ts): from the copy at the boundary, from the database for a late send and
   * each retry. Absent: the claim's answer and `executionOff` decide alone. */
  check?: SendCheck;
}

export interface CycleDeps {
  clock: Clock;
  client: DiegoClient;
  store: HistoryStore;
  log: Logger;
  retry: RetryPolicy;
  timeframe: string;
  triggerExecution: boolean;
  diegoTimeoutMs: number;
  owner: string;
  newId: () => string;
  /** Appended to the cycle's log lines when several symbols share the log. */
  label: string;
  /** Told once the cycle's first request is on its way (the Healthchecks `/start` ping). */
  onStarted?: () => void;
}

/** What the metrics file counts of an ended cycle, straight from memory (no read back from the database). */
export interface EndedCycle {
  status: Exclude<CycleStatus, 'running'>;
  /** Why it did not succeed, as recorded (`missed`, `deadline`, …). */
  reason?: string;
  trigger: Trigger;
  finishedAt: number;
  durationMs: number;
  attempts: { outcome: AttemptOutcome; durationMs: number }[];
  /** Its symbol, and whether Diego's answer said an order was placed, or failed (the guards read these). */
  symbol?: string; timeframe?: string; executed?: boolean; executionFailed?: boolean;
}

export interface CycleResult {
  id?: number;
  /** `unclaimed`: the claim could not be written (the database is unavailable), so the slot was not fired. */
  status: Exclude<CycleStatus, 'running'> | 'claimed_elsewhere' | 'unclaimed';
  reason?: string;
  attempts: number;
  /** The cycle as recorded, when this agent ran it. */
  ended?: EndedCycle;
}

/** A claimed cycle on its way: what the attempts loop and the closing share. */
export interface Running {
  id: number;
  job: CycleJob;
  /** The cycle's W3C trace id: stored with it, in its log lines, in every attempt's `traceparent`. */
  traceId: string;
  startedAt: number;
  fields: Record<string, unknown>;
  announce: () => void;
  attempts: EndedCycle['attempts'];
}

