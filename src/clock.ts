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

/** The real clock's timer aims this far before a `waitUntil` target; the rest is spent in short blocking naps. */
export const WAKE_EARLY_MS = 2;
const MAX_TIMER_MS = 2 ** 31 - 1;
const NAP_MS = 0.05;
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
  // WAKE_EARLY_MS short of the target; the last stretch (≤ WAKE_EARLY_MS + 1 ms) blocks in NAP_MS naps
  // (Atomics.wait: sub-millisecond, no CPU burnt) until Date.now() reaches the target, so the release comes within
  // about a nap after the boundary and never before it. Blocking the loop that briefly is harmless: the slot's
  // work was prepared beforehand and nothing else is due. A wall clock that jumps back goes back to the timer.
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
        let left = at - Date.now();
        while (left > 0 && left <= WAKE_EARLY_MS + 1) {
          Atomics.wait(nap, 0, 0, NAP_MS);
          left = at - Date.now();
        }
        if (left <= 0) done();
        else timer = setTimeout(arm, Math.min(Math.max(1, left - WAKE_EARLY_MS), MAX_TIMER_MS));
      };
      signal?.addEventListener('abort', done, { once: true });
      arm();
    }),
};
