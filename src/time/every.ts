import type { Clock } from './clock.ts';

/**
 * The one loop every chore runs on: `chore` after `firstMs`, then every `intervalMs`, never overlapping itself,
 * until `stop`. A chore that throws is the chore's own business (see {@link spell}); the loop goes on.
 */
export async function every(clock: Clock, stop: AbortSignal, intervalMs: number, chore: () => Promise<void>, firstMs = intervalMs): Promise<void> {
  return wakeable(clock, stop, () => intervalMs, chore, firstMs).done;
}

/**
 * The same loop, which `wake()` also runs at once: a wake that comes while the chore runs runs it again right after
 * (the news may have come too late for the run under way), so no wake is lost. `intervalMs` is asked before each wait.
 */
export function wakeable(clock: Clock, stop: AbortSignal, intervalMs: () => number, chore: () => Promise<void>, firstMs = intervalMs()): { done: Promise<void>; wake(): void } {
  let waiting: AbortController | undefined;
  let woken = false;
  const done = (async () => {
    for (let wait = firstMs; ; wait = intervalMs()) {
      if (stop.aborted) return;
      if (!woken) {
        // One controller per wait, tied to `stop` by a listener removed after it: AbortSignal.any([stop, …]) in a
        // loop keeps every combined signal alive as long as `stop` lives (https://github.com/nodejs/node/issues/55351).
        const w = (waiting = new AbortController());
        const onStop = () => w.abort();
        stop.addEventListener('abort', onStop, { once: true });
        await clock.sleep(wait, w.signal);
        stop.removeEventListener('abort', onStop);
        waiting = undefined;
      }
      woken = false;
      if (stop.aborted) return;
      await chore();
    }
  })();
  return {
    done,
    wake() {
      if (waiting) waiting.abort();
      else woken = true;
    },
  };
}
