/**
 * A capped exponential backoff: `firstMs`, doubling after each try, never above `maxMs`; with `jitter`, each wait is
 * up to that share shorter, drawn at random, so agents and channels that failed together (replicas losing one
 * PostgreSQL server, a webhook that went down for all) do not all come back at the same instant. The jitter only
 * ever shortens a wait: the documented figures stay upper bounds.
 * https://aws.amazon.com/blogs/architecture/exponential-backoff-and-jitter/
 */
export interface Backoff {
  firstMs: number;
  maxMs: number;
  /** The share of each wait (0–1) that may be cut at random; absent or 0: exact waits. */
  jitter?: number;
}

/** A uniform draw in [0, 1): `Math.random` on the real clock (Clock.random); absent on test clocks, so waits are exact. */
export type Draw = () => number;

/** The jitter of every backoff below: a wait is up to a fifth shorter. */
export const BACKOFF_JITTER = 0.2;

/** How long to wait after the `tries`-th failed try (1 = the first). Pure given `draw`; no draw: the exact wait. */
export function backoffDelay(b: Backoff, tries: number, draw?: Draw): number {
  const exact = Math.min(b.maxMs, b.firstMs * 2 ** Math.max(0, tries - 1));
  if (draw === undefined || !b.jitter) return exact;
  return Math.round(exact * (1 - Math.min(1, b.jitter) * draw()));
}

/**
 * The one backoff for waiting on something that should come back (a readiness probe, a database server, a flush
 * of queued writes): 0.5 s doubling to 10 s, so a short outage is noticed quickly and a long one costs little.
 */
export const RECONNECT_BACKOFF: Backoff = { firstMs: 500, maxMs: 10_000, jitter: BACKOFF_JITTER };
