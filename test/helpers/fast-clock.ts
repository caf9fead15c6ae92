import type { Clock } from '../../src/clock.ts';

/**
 * A clock whose sleeps return at once but still move its time forward, while real time passes too:
 * retry delays and waits cost nothing, HTTP round trips keep their real duration. `earlyMs` makes each sleep wake
 * that much before its target, like a Node timer that fires early.
 */
export interface FastClock extends Clock {
  /** Every sleep asked for, in ms, in order. */
  readonly sleeps: number[];
  /** Moves the clock (a wall-clock jump when negative or large). */
  jump(ms: number): void;
}

export function fastClock(start: number, opts: { earlyMs?: number } = {}): FastClock {
  const realStart = performance.now();
  let skipped = 0;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => Math.floor(start + (performance.now() - realStart) + skipped),
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
