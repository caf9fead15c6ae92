import type { Logger } from '../log/logger.ts';
import type { Notifier } from '../notify/notifier.ts';
import type { FiringHold } from '../store/history/agent-registry.ts';

/** A step back smaller than this (an NTP correction) is logged as a warning and held quietly. */
export const CLOCK_BACK_ALARM_MS = 1000;

/**
 * What the agent does when the wall clock goes back behind the last slot it fired (issue #24, item 9). It keeps
 * "no slot fires twice" (the scheduler waits for the slot after the last one fired), but never silently: an error
 * line, a `clock_step` notification, and a hold on the agent's row that makes `healthcheck` unhealthy and `status`
 * say "not firing until T (the clock went back N s)", cleared when a slot fires again.
 */
export function clockBackWatch(log: Logger, notifier: Notifier, hold: (h: FiringHold | undefined) => void) {
  let held = false;
  return {
    began(now: number, lastFired: number, slot: number) {
      const backMs = lastFired - now;
      const line = `Wall clock went back to ${new Date(now).toISOString()}, ${Math.round(backMs / 1000)} s before the last slot fired (${new Date(lastFired).toISOString()}); waiting, no slot fires twice: not firing until ${new Date(slot).toISOString()}`;
      if (backMs < CLOCK_BACK_ALARM_MS) {
        log.warn(line);
        return;
      }
      log.error(line);
      notifier.notify('clock_step', `the wall clock went back ${Math.round(backMs / 1000)} s: not firing until ${new Date(slot).toISOString()} (no slot fires twice)`, { details: { backMs, until: new Date(slot).toISOString() } });
      held = true;
      hold({ until: slot, backMs });
    },
    /** A slot fired: the hold, if any, is over. Only a flag is read on the slot's path; the write is the heartbeat's. */
    fired() {
      if (!held) return;
      held = false;
      log.info('Firing again after the clock went back');
      hold(undefined);
    },
  };
}
