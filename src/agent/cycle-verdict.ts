import type { AttemptResult } from '../diego/client.ts';
import type { SkipReason } from '../records.ts';

/** Why a cycle's attempts stopped. */
export type StopReason = 'deadline' | 'no_time_for_retry' | 'aborted' | 'not_retryable' | 'exhausted' | Exclude<SkipReason, 'shutdown' | 'unclaimed'>;

/**
 * What a cycle prepared ahead of its slot is told at the boundary: `fire`; `missed` (a later slot was already due
 * when the agent woke, so this one is passed over); `clock_back` (the wall clock went back a long way after it was
 * prepared, so it is passed over rather than held open); `shutdown` (the agent stopped before the slot came);
 * `paused` (a pause came between the preparation and the slot: the slot is skipped, its reason `paused`).
 */
export type Release = 'fire' | 'missed' | 'clock_back' | 'shutdown' | 'paused';

/** The reason the agent gives a cycle's abort signal when `pause --abort` cuts it (else: the shutdown). */
export const CUT_BY_PAUSE = 'paused';

/** The stops of a cycle whose slot was passed over, so nothing was sent: what its unsent attempt and its cycle say. */
export const UNSENT: Record<Exclude<SkipReason, 'shutdown' | 'unclaimed'>, { attempt: string; cycle: string }> = {
  missed: { attempt: 'its slot was passed over', cycle: 'not fired: a later slot was already due when the agent woke (late wake-up or clock jump)' },
  clock_back: { attempt: 'its slot was passed over', cycle: 'not fired: the wall clock went back a long way after the slot was prepared; its moment had already passed once' },
  paused: { attempt: 'paused before its slot', cycle: 'not fired: paused (pmf-scheduler pause) before its slot' },
  overlap: { attempt: 'the previous cycle still ran', cycle: 'not fired: the previous cycle was still running at its slot' },
  clock_skew: { attempt: 'the clock was off', cycle: 'not fired: the clock offset was above CLOCK_SKEW_MAX_MS at its slot' },
  clock_unchecked: { attempt: 'the clock was not checked yet', cycle: 'not fired: no clock check had answered yet (CLOCK_SKEW_MAX_MS set)' },
  recheck_failed: { attempt: 'late, not re-checked', cycle: 'not fired: late, and the database could not be re-checked before sending' },
  late: { attempt: 'too late to send', cycle: 'not fired: it could not leave within MAX_LATENESS_MS of its slot' },
};
export const passedOver = (stop: StopReason | undefined): stop is keyof typeof UNSENT => stop !== undefined && Object.hasOwn(UNSENT, stop);

/** How a cycle that did not succeed is recorded: status, reason kind and the line an operator reads. */
export function cycleVerdict(stop: StopReason, last: AttemptResult | undefined, abortReason?: unknown): { status: 'failed' | 'interrupted' | 'skipped'; reason: string } {
  if (stop === 'aborted') return { status: 'interrupted', reason: abortReason === CUT_BY_PAUSE ? 'paused' : 'shutdown' };
  if (passedOver(stop)) return { status: 'skipped', reason: stop };
  // No time left for a retry before the next slot: the slot's deadline ended it, recorded as such.
  if (stop === 'deadline' || stop === 'no_time_for_retry') return { status: 'failed', reason: 'deadline' };
  return { status: 'failed', reason: last?.outcome ?? 'unknown' };
}


/**
 * The error line a cycle that did not succeed is recorded and logged with (pure). `why`: what held a send back (the
 * slot decision) or cut a retry (`pause --execution --abort`).
 */
export function closingError(verdict: ReturnType<typeof cycleVerdict>, stop: StopReason | undefined, last: AttemptResult | undefined, o: { deadline: number; delayMs: number; why?: string }): string {
  const next = new Date(o.deadline).toISOString();
  if (stop === 'no_time_for_retry') return `no time left for a retry: the next slot ${next} comes before RETRY_DELAY_MS (${o.delayMs} ms) has passed; last error: ${last?.error ?? last?.outcome}`;
  if (verdict.reason === 'deadline') return `deadline: the next slot ${next} came before an answer${last?.error ? `; last error: ${last.error}` : ''}`;
  if (verdict.reason === 'shutdown') return 'interrupted by shutdown';
  if (verdict.status === 'interrupted') return `interrupted by pause --abort${o.why ? ` (${o.why})` : ''}`;
  if (passedOver(stop)) return o.why ? `not fired: ${o.why}` : UNSENT[stop].cycle;
  return last?.error ?? last?.outcome ?? 'no attempt';
}
