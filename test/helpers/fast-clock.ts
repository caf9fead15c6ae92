import type { Clock } from '../../src/time/clock.ts';

/**
 * A clock whose sleeps return at once but still move its time forward, while real time passes too:
 * retry delays and waits cost nothing, HTTP round trips keep their real duration. `earlyMs` makes each sleep wake
 * that much before its target, like a Node timer that fires early. `frozen`: real time does not move it, only sleeps
 * and jumps do, so the times it gives are exact whatever the machine's load.
 */
export interface FastClock extends Clock {
  /** Every sleep asked for, in ms, in order. */
  readonly sleeps: number[];
  /** Moves the clock (a wall-clock jump when negative or large). */
  jump(ms: number): void;
}

export function fastClock(start: number, opts: { earlyMs?: number; frozen?: boolean } = {}): FastClock {
  const realStart = performance.now();
  let skipped = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => Math.floor(start + (opts.frozen ? 0 : performance.now() - realStart) + skipped),
    async sleep(ms, signal) {
      sleeps.push(ms);
      if (signal?.aborted) return;
      skipped += Math.max(0, ms - (opts.earlyMs ?? 0));
      await new Promise((r) => setImmediate(r));
    },
    jump(ms) {
      skipped += ms;
    },
  };
}

/**
 * A clock at real time whose sleeps end only when their signal aborts: a loop on it runs again only when something
 * wakes it, so a test sees what the wake-up alone does. `sleeps` lists every sleep asked for.
 */
export function stillClock(): Clock & { readonly sleeps: number[] } {
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => Date.now(),
    sleep(ms, signal) {
      sleeps.push(ms);
      return new Promise((resolve) => {
        if (signal?.aborted) return resolve();
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
    },
  };
}
