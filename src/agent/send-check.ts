import { errorLine } from '../log/error-line.ts';
import type { Clock } from '../time/clock.ts';
import { freshness, stricter, type SlotDecision } from './slot-decision.ts';

/**
 * How late a cycle's first request may leave after its slot and still go on the copy's word (the claim's answer
 * and the control state in memory): later than this, the agent was stalled (SIGSTOP, a long GC, a frozen VM) or
 * woke late, and asks the database again before it sends. An agent on time sends within a few ms (p99 2 ms,
 * docs/benchmarks.md), so only a stalled send pays for the read.
 */
export const LATE_SEND_MS = 25;

/**
 * A late send's re-check that took longer than this (stalled again mid-read, or a database in trouble) is asked
 * again: a change may have committed after the database answered. Generous, so a loaded machine is no stall.
 */
export const SLOW_RECHECK_MS = 1000;

/** Re-checks of a late send before it gives up (each slower than SLOW_RECHECK_MS): then it does not send. */
const MAX_RECHECKS = 3;

/** A cycle's decisions at its sends (wired by slots.ts over the pure decideSlot). */
export interface SendCheck {
  /** At the boundary, from the agent's copy in memory: no database read (the on-time path). */
  atSlot(): SlotDecision;
  /**
   * From the pauses the database holds now (a late send, a retry); `inFlight` for a retry. Rejects when the
   * database cannot be read.
   */
  fromDatabase(at: number, inFlight?: { executionOn: boolean }): Promise<SlotDecision>;
  /** How late after its slot the first request may still leave (MAX_LATENESS_MS); undefined: any time (startup). */
  maxLatenessMs?: number;
}

/** The freshness check as a slot decision: a stale first request is skipped, reason `late`, with its lateness. */
function stale(slot: number, now: number, check: SendCheck): { decision: SlotDecision } | undefined {
  const f = freshness(slot, now, check.maxLatenessMs);
  if (f.kind === 'fresh') return undefined;
  // No `late` given: the cycle's "re-read from the database" line is not for a request that does not leave.
  return { decision: { kind: 'skip', reason: 'late', why: `not sent: ${Math.round(f.lateMs)} ms late, past MAX_LATENESS_MS=${f.limitMs}` } };
}

/** The decision a claim's own statement gave (store/claims.ts): skipped under a pause, execution off, or fire. */
export function claimDecision(answer: { paused?: string; executionOff?: string } | undefined, copy: string | undefined): SlotDecision {
  if (answer?.paused !== undefined) return { kind: 'skip', reason: 'paused', why: answer.paused };
  const off = answer?.executionOff ?? copy;
  return off === undefined ? { kind: 'fire', execution: true } : { kind: 'fire', execution: false, why: off };
}

/**
 * The first request's last word, just before it leaves: later than MAX_LATENESS_MS (the freshness decision), it is
 * not sent (skip, `late`); on time, `decided` stands (no read); late by more than LATE_SEND_MS, the database is
 * asked, and asked again while the answer itself came late (stalled again). When it cannot be asked, or keeps coming
 * late, the request is not sent (skip, `recheck_failed`).
 */
export async function checkLateSend(slot: number, decided: SlotDecision, check: SendCheck | undefined, clock: Clock): Promise<{ decision: SlotDecision; late?: number }> {
  let late = clock.now() - slot;
  if (check === undefined || decided.kind === 'skip') return { decision: decided };
  // Too late is too late whatever the database says: no read for a request that will not leave.
  const tooLate = stale(slot, slot + late, check);
  if (tooLate) return tooLate;
  if (late <= LATE_SEND_MS) return { decision: decided };
  for (let tries = 0; tries < MAX_RECHECKS; tries++) {
    let fresh: SlotDecision;
    const askedAt = clock.now();
    try {
      fresh = await check.fromDatabase(askedAt);
    } catch (err) {
      return { decision: { kind: 'skip', reason: 'recheck_failed', why: `not sent: ${late} ms late, and the database could not be asked again (${errorLine(err)})` }, late };
    }
    // One read after the wake sees every change committed before the slot's moment (the read began after it). The
    // caller sends right after this returns, in the same turn of the event loop. Answered very late (stalled again
    // mid-read), a change may have committed since the database answered: ask again.
    // The read itself may have made it stale (a stall mid-read, a slow database): judged again when it answered.
    const staleNow = stale(slot, clock.now(), check);
    if (staleNow) return staleNow;
    if (clock.now() - askedAt <= SLOW_RECHECK_MS) return { decision: stricter(decided, fresh), late };
    late = clock.now() - slot;
  }
  return { decision: { kind: 'skip', reason: 'recheck_failed', why: `not sent: each of ${MAX_RECHECKS} database re-checks took over ${SLOW_RECHECK_MS} ms` }, late };
}

/**
 * A retry's execution flag, from the database as it stands when the retry leaves (a kill switch after the first
 * attempt holds for the next): the database unreadable, the retry goes analysis-only (fails closed).
 */
export async function checkRetry(at: number, decided: SlotDecision, check: SendCheck | undefined, executionOn: boolean): Promise<SlotDecision> {
  if (check === undefined) return decided;
  try {
    return stricter(decided, await check.fromDatabase(at, { executionOn }));
  } catch (err) {
    return stricter(decided, { kind: 'fire', execution: false, why: `the control state could not be read before the retry (${errorLine(err)})` });
  }
}
