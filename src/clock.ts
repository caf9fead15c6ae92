/** Wall-clock time and waiting, injected so tests control time instead of sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Resolves at the first instant `now() >= at`, as close after it as the clock can (never before), or early
   * when `signal` aborts. Optional: the scheduler falls back to `sleep` (fake clocks in tests need nothing more).
   */
  waitUntil?(at: number, signal?: AbortSignal): Promise<void>;
}

/** The real clock's timer aims this far before a `waitUntil` target; the rest is a short blocking wait. */
export const WAKE_EARLY_MS = 2;
const MAX_TIMER_MS = 2 ** 31 - 1;
/** The final spin: about the wake-up latency of Atomics.wait, so the spin is short and the wake-up never late. */
const SPIN_MS = 0.15;
/** Nothing ever notifies it: Atomics.wait on it is a precise, CPU-free sleep of the main thread. */
const nap = new Int32Array(new SharedArrayBuffer(4));

/** The real clock: `Date.now` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, Math.max(0, ms));
      signal?.addEventListener('abort', done, { once: true });
    }),
  // Precision-critical. A Node timer has 1 ms granularity and wakes up to ~1 ms early or late, so it aims
  // WAKE_EARLY_MS short of the target. The last stretch blocks the thread in one Atomics.wait (a sub-millisecond
  // sleep that burns no CPU) until SPIN_MS before the target by the high-resolution clock, then spins on Date.now()
  // until it reaches the target: the release lands within microseconds after the boundary and never before it
  // (Date.now() decides; the high-resolution estimate only shortens the spin). Blocking the loop that briefly is
  // harmless: the slot's work was prepared beforehand. A wall clock that jumps back sends it back to the timer.
  waitUntil: (at, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const arm = () => {
        for (let left = at - Date.now(); left > 0; left = at - Date.now()) {
          if (left > WAKE_EARLY_MS + 1) {
            timer = setTimeout(arm, Math.min(left - WAKE_EARLY_MS, MAX_TIMER_MS));
            return;
          }
          // Capped by Date.now()'s count: a high-resolution clock left behind by a wall-clock step cannot block long.
          const fine = Math.min(at - (performance.timeOrigin + performance.now()), left);
          if (fine > SPIN_MS) Atomics.wait(nap, 0, 0, fine - SPIN_MS);
        }
        done();
      };
      signal?.addEventListener('abort', done, { once: true });
      arm();
    }),
};
