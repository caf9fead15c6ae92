/** Wall-clock time and waiting, injected so tests control time instead of sleeping. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or early (without throwing) when `signal` aborts. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
  /**
   * Resolves at the first instant `now() >= at`, as close after it as the clock can (never before), or early
   * when `signal` aborts or the wall clock goes back (the caller re-reads it and decides again). Optional: the
   * scheduler falls back to `sleep` (fake clocks in tests need nothing more).
   */
  waitUntil?(at: number, signal?: AbortSignal): Promise<void>;
  /**
   * A uniform draw in [0, 1) that spreads retry waits (backoff.ts jitter). Optional: a clock without it (the fake
   * clocks of tests) waits exactly what the backoff says.
   */
  random?(): number;
}

/**
 * Waits for `work` to settle, for `ms` at most on `clock`: true when it settled in time. The one bounded wait of every
 * stop (the drain of cycles, the last notifications, a connection's goodbye); the timer is cleared either way.
 */
export async function settlesWithin(clock: Clock, ms: number, work: Promise<unknown>): Promise<boolean> {
  const timer = new AbortController();
  const settled = await Promise.race([work.then(() => true, () => true), clock.sleep(ms, timer.signal).then(() => false)]);
  timer.abort();
  return settled;
}

/**
 * A send-time stamp: the wall clock's millisecond `wall` (read at send time, so it follows wall-clock steps), with
 * the sub-millisecond digits of the high-resolution clock. Never before `wall`, never a millisecond past it:
 * `performance.timeOrigin` is read once at start, so the high-resolution clock alone would drift off the wall clock
 * by the size of every step since (30 s and 3,617 s off after matching steps, issue 15).
 */
export function sendStamp(wall: number): number {
  const fine = performance.timeOrigin + performance.now();
  return wall + (fine - Math.floor(fine));
}

/**
 * The longest single timer of a wait for a wall-clock moment: timers run on the monotonic clock, so a long wait is
 * cut into steps that re-read the wall clock at least this often (as croner does) and notice a step either way.
 */
export const MAX_WAIT_STEP_MS = 30_000;

/** The real clock's timer aims this far before a `waitUntil` target; the rest is a short blocking wait. */
export const WAKE_EARLY_MS = 2;
/** The final spin: about the wake-up latency of Atomics.wait, so the spin is short and the wake-up never late. */
const SPIN_MS = 0.15;
/** Nothing ever notifies it: Atomics.wait on it is a precise, CPU-free sleep of the main thread. */
const nap = new Int32Array(new SharedArrayBuffer(4));

/** The real clock: `Date.now`, `setTimeout` and `Math.random`. */
export const systemClock: Clock = {
  now: () => Date.now(),
  random: () => Math.random(),
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
  // harmless: the slot's work was prepared beforehand. A wall clock that goes back ends the wait early: one timer
  // for the whole step would hold the caller, deaf to its stop signal, until the wall clock came back (issue 15).
  waitUntil: (at, signal) =>
    new Promise<void>((resolve) => {
      if (signal?.aborted) return resolve();
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      let before = at - Date.now();
      const arm = () => {
        for (let left = at - Date.now(); left > 0; left = at - Date.now()) {
          // Time only shortens the wait: a longer one means the wall clock went back (1 ms: Date.now()'s grain).
          if (left > before + 1) return done();
          before = left;
          if (left > WAKE_EARLY_MS + 1) {
            timer = setTimeout(arm, Math.min(left - WAKE_EARLY_MS, MAX_WAIT_STEP_MS));
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
