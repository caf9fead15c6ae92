import { isRetryableStatus, type AttemptOutcome } from '../records.ts';

/** The retry settings a cycle needs. */
export interface RetryPolicy {
  attempts: number;
  delayMs: number;
}

/** What one finished attempt tells the retry loop. */
export interface AttemptVerdict {
  outcome: AttemptOutcome;
  status?: number;
  /** Parsed Retry-After in ms, when the response carried one. */
  retryAfterMs?: number;
}

export type NextStep =
  | { kind: 'done' }
  | { kind: 'retry'; delayMs: number }
  | { kind: 'stop'; reason: 'not_retryable' | 'exhausted' | 'deadline' | 'no_time_for_retry' | 'aborted' };

const RETRY_AFTER_CAP_MS = 60_000;
/** Whether an attempt that ended this way may be sent again: transient faults yes, other 4xx and redirects no. */
export function isRetryable(v: AttemptVerdict): boolean {
  switch (v.outcome) {
    case 'ok':
    case 'rejected':
    case 'aborted':
      return false;
    case 'http_error':
      return v.status === undefined || isRetryableStatus(v.status);
    default:
      return true;
  }
}

/** The wait before the next attempt: RETRY_DELAY_MS, or a longer Retry-After on 429/503 (capped at 60 s). */
export function retryDelay(v: AttemptVerdict, policy: RetryPolicy): number {
  const honoured = (v.status === 429 || v.status === 503) && v.retryAfterMs !== undefined;
  return honoured ? Math.max(policy.delayMs, Math.min(v.retryAfterMs!, RETRY_AFTER_CAP_MS)) : policy.delayMs;
}

/**
 * Decides what follows attempt number `attempt`: done, another attempt after a delay, or stop.
 * No attempt may start at or after the deadline, so a retry whose delay reaches it stops the cycle: there is no
 * time left for a retry (`no_time_for_retry`, which says so, rather than a deadline that cut an answer short).
 */
export function nextStep(v: AttemptVerdict, attempt: number, now: number, deadline: number, policy: RetryPolicy): NextStep {
  if (v.outcome === 'ok') return { kind: 'done' };
  if (v.outcome === 'aborted') return { kind: 'stop', reason: 'aborted' };
  if (!isRetryable(v)) return { kind: 'stop', reason: 'not_retryable' };
  if (attempt >= policy.attempts) return { kind: 'stop', reason: 'exhausted' };
  const delayMs = retryDelay(v, policy);
  if (now + delayMs >= deadline) return { kind: 'stop', reason: 'no_time_for_retry' };
  return { kind: 'retry', delayMs };
}

/** How many of the next slots `retryRoom` looks at to find the pattern's shortest gap. */
const GAPS_LOOKED_AT = 200;

/**
 * Whether a retry can ever happen (pure): with RETRY_ATTEMPTS above 1, a retry starts RETRY_DELAY_MS after a failed
 * attempt, and no attempt starts at or after the next slot. When the delay reaches the pattern's shortest gap
 * between slots (among the next ones), a failed cycle there is never retried: the line to warn with at start.
 */
export function retryRoom(cron: { next(after: number): number }, now: number, policy: RetryPolicy): string | undefined {
  if (policy.attempts <= 1) return undefined;
  let shortest = Infinity;
  let slot = cron.next(now);
  for (let i = 0; i < GAPS_LOOKED_AT && Number.isFinite(slot); i++) {
    const next = cron.next(slot);
    shortest = Math.min(shortest, next - slot);
    slot = next;
  }
  if (policy.delayMs < shortest) return undefined;
  return `RETRY_DELAY_MS=${policy.delayMs} leaves no time for a retry: slots can be ${shortest} ms apart, and no attempt starts at or after the next slot, so a failed attempt there is never retried (RETRY_ATTEMPTS=${policy.attempts}); set RETRY_DELAY_MS below ${shortest} to retry`;
}
