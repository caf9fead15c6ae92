/** A capped exponential backoff: `firstMs`, doubling after each try, never above `maxMs`. */
export interface Backoff {
  firstMs: number;
  maxMs: number;
}

/** How long to wait after the `tries`-th failed try (1 = the first). Pure. */
export function backoffDelay(b: Backoff, tries: number): number {
  return Math.min(b.maxMs, b.firstMs * 2 ** Math.max(0, tries - 1));
}

/**
 * The one backoff for waiting on something that should come back (a readiness probe, a database server, a flush
 * of queued writes): 0.5 s doubling to 10 s, so a short outage is noticed quickly and a long one costs little.
 */
export const RECONNECT_BACKOFF: Backoff = { firstMs: 500, maxMs: 10_000 };
