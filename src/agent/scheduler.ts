import { MAX_WAIT_STEP_MS, type Clock } from '../time/clock.ts';
import type { CronPattern } from '../time/cron-pattern.ts';

/** Longest single sleep: a long wait re-reads the wall clock at least this often, so clock changes are noticed. */
export const MAX_SLEEP_MS = MAX_WAIT_STEP_MS;
/**
 * How long before its slot a slot is prepared (`onPrepare`: the claim and the first attempt's row written), so no
 * database write sits between the slot and the request. Well above what those writes take (p50 under 1 ms with
 * synchronous=FULL on an idle disk, p99 ~50 ms on a busy one; docs/benchmarks.md) and well below a slot interval.
 */
export const PREPARE_LEAD_MS = 100;
/**
 * How long before its slot a prepared slot takes its last look at the control state (`onLastLook`: one read of the
 * version, the state only when it changed), so a change committed up to this long before the slot still reaches it;
 * later ones are the window docs/reliability.md states. Off the slot's path: the look ends well before the boundary.
 */
export const LAST_LOOK_MS = 20;
/** Past this many overdue slots we stop counting one by one (a huge forward jump on a fast pattern). */
export const MAX_COUNTED = 10_000;

/** What to do on waking: fire the newest due slot only, and report how many older ones were passed over. */
export interface WakePlan {
  fire: number;
  missed: number;
  /** Counting stopped at MAX_COUNTED: `missed` is a lower bound ("more than MAX_COUNTED"), not the count. */
  capped?: true;
}

/**
 * Missed-run policy (pure): of all slots due in [first, now], fire only the newest; the older ones are not
 * backfilled (a stale analysis is worthless) but counted, so the gap can be logged.
 */
export function planWake(cron: CronPattern, first: number, now: number): WakePlan {
  let fire = first;
  let missed = 0;
  for (let next = cron.next(fire); next <= now; next = cron.next(fire)) {
    if (missed === MAX_COUNTED) {
      const latest = cron.latest(now);
      return { fire: latest, missed: missed + 1, capped: true }; // "at least": exact counting would take too long
    }
    fire = next;
    missed++;
  }
  return { fire, missed };
}

export interface ScheduleOptions {
  cron: CronPattern;
  clock: Clock;
  /** Slots strictly after this time are due (normally the start time). */
  after: number;
  signal: AbortSignal;
  /** Called once per slot, synchronously, never awaited: the loop must not wait for a cycle. */
  onSlot(slot: number): void;
  /**
   * Called once per slot PREPARE_LEAD_MS before it (at once when less is left), synchronously, before that slot's
   * `onSlot`; `onSlot` then comes as close after the boundary as the clock allows. A slot whose wait ends in a stop
   * gets no `onSlot`. Without it the loop waits for each slot with plain sleeps.
   */
  onPrepare?(slot: number): void;
  /**
   * Called once per prepared slot LAST_LOOK_MS before it (at once when less is left), synchronously, after its
   * `onPrepare`: the slot's last look at the control state, which its `onSlot` may wait for.
   */
  onLastLook?(slot: number): void;
  /** Older due slots that were passed over (a late wake-up or a forward clock jump); `capped`: more than `count - 1`. */
  onMissed(count: number, firstMissed: number, fired: number, capped: boolean): void;
  /** The wall clock went back behind the last slot fired: nothing fires before `slot`, the one after it. */
  onClockBack?(now: number, lastFired: number, slot: number): void;
  /**
   * The wall clock went back after `slot` was prepared, leaving it more than MAX_SLEEP_MS ahead: its prepared cycle
   * is to be released unsent, and the slot is passed over (it gets no `onSlot`). A prepared slot left at most that far
   * ahead stays prepared and is waited for again (in stoppable steps).
   */
  onReleased?(slot: number, now: number): void;
  /**
   * Subscribes to changes of the pattern in force (`reschedule`): the wait for the next slot is cut short and the slot
   * computed again. Returns the unsubscribe. Absent: the pattern never changes.
   */
  patternChanges?(listener: () => void): () => void;
  /**
   * The pattern in force changed (`reschedule`): `dropped`, the slot awaited under the old pattern when the new one
   * lacks it (released unsent when it was prepared); `next`, the new pattern's first slot after the last one fired
   * and after now.
   */
  onRescheduled?(next: number, dropped: { slot: number; prepared: boolean } | undefined): void;
}

/**
 * The timing loop. Each slot is computed from the last slot fired, never from "now", and a timer that wakes
 * before its slot re-arms instead of firing: that is what keeps a slot from firing twice (cron-schedule's
 * TimerBasedCronScheduler fires one second twice when Node wakes ~1 ms early).
 */
export async function runSchedule(o: ScheduleOptions): Promise<void> {
  const lead = o.onPrepare ? PREPARE_LEAD_MS : 0;
  let last = o.after;
  let pattern = o.cron.text;
  // A reschedule ends the wait for the next slot at once (a step lasts up to MAX_SLEEP_MS). The sleep itself keeps the
  // stop signal alone (a test clock tells the schedule's sleeps by it); one a reschedule cut short ends at its time.
  let rescheduled = (): void => {};
  const unsubscribe = o.patternChanges?.(() => rescheduled());
  const nap = (ms: number) => {
    const sleep = o.clock.sleep(ms, o.signal);
    return unsubscribe === undefined ? sleep : Promise.race([sleep, new Promise<void>((resolve) => (rescheduled = resolve))]);
  };
  try {
    while (!o.signal.aborted) {
      let slot = o.cron.next(last);
      let now = o.clock.now();
      let warnedBack = false;
      let following: number | undefined; // the slot after this one, known once it is prepared
      let looked = false;
      let released = false;
      // The guard: whatever woke us, nothing fires while now < slot.
      while (now < slot) {
        if (o.cron.text !== pattern) {
          // Rescheduled: applies from now. The next slot is the new pattern's first after the last one fired and
          // after now (never one that passed, never one fired); the awaited slot is kept only if the new pattern has it.
          pattern = o.cron.text;
          const next = o.cron.next(Math.max(last, now));
          o.onRescheduled?.(next, next === slot ? undefined : { slot, prepared: following !== undefined });
          if (next !== slot) [slot, following, looked] = [next, undefined, false];
        }
        if (slot - now > lead) {
          if (following !== undefined && slot - now > MAX_SLEEP_MS) {
            // Prepared, then the wall clock went back a long way: no claimed cycle is held open that long.
            o.onReleased?.(slot, now);
            released = true;
            break;
          }
          if (now < last && !warnedBack) {
            o.onClockBack?.(now, last, slot);
            warnedBack = true;
          }
          await nap(Math.min(slot - now - lead, MAX_SLEEP_MS));
          if (o.signal.aborted) return;
        } else {
          if (following === undefined) {
            following = o.cron.next(slot);
            o.onPrepare?.(slot);
          }
          if (o.onLastLook && !looked && slot - now > LAST_LOOK_MS) {
            // Up to the last look: a plain wait, not cut short by a stop (the slot is claimed), as the last stretch.
            await o.clock.sleep(slot - now - LAST_LOOK_MS);
            now = o.clock.now();
            continue;
          }
          if (o.onLastLook && !looked) {
            looked = true;
            o.onLastLook(slot);
          }
          // The last stretch (at most PREPARE_LEAD_MS) is not cut short by a stop: the slot is claimed by now, so it
          // fires as claimed, at most PREPARE_LEAD_MS after the stop. The wait ends early when the wall clock goes
          // back, and the branch above decides again: there a stop ends the wait at once and the prepared cycle
          // closes unsent, so a slot moved away by a step is never fired after a stop.
          await (o.clock.waitUntil ? o.clock.waitUntil(slot) : o.clock.sleep(slot - now));
        }
        now = o.clock.now();
      }
      if (released) {
        last = slot; // its moment passed once already, on the wall clock before the step: it never fires
        continue;
      }
      // Woken before the following slot (the usual case), nothing was missed: no date math between slot and fire.
      const plan = following !== undefined && now < following ? { fire: slot, missed: 0 } : planWake(o.cron, slot, now);
      if (plan.missed > 0) o.onMissed(plan.missed, slot, plan.fire, plan.capped === true);
      last = plan.fire;
      o.onSlot(plan.fire);
      // Let the requests just released leave (their promise chains run first) before the next slot's date math.
      if (following !== undefined) await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    unsubscribe?.();
  }
}
