import type { HistoryStore } from '../../src/store/port.ts';

/** Switches a fault injector on (an error every write throws) and off (undefined). */
export interface FaultControl {
  failing: Error | undefined;
}

/**
 * A fault injector around a real store (not a mock: every write that goes through reaches the real database):
 * while `control.failing` is set, every write throws it and nothing is written.
 */
export function faultInjector(real: HistoryStore, control: FaultControl): HistoryStore {
  const guard =
    <A extends unknown[], R>(fn: (...args: A) => Promise<R>) =>
    async (...args: A): Promise<R> => {
      if (control.failing) throw control.failing;
      return fn(...args);
    };
  return {
    claimCycle: guard(real.claimCycle),
    claimAnswer: (id) => real.claimAnswer(id),
    recordSkipped: guard(real.recordSkipped),
    voidClaim: guard(real.voidClaim),
    finishCycle: guard(real.finishCycle),
    startAttempt: guard(real.startAttempt),
    finishAttempt: guard(real.finishAttempt),
    recoverInterrupted: guard(real.recoverInterrupted),
  };
}
