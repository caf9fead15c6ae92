import type { Logger } from '../log/logger.ts';
import { settlesWithin, type Clock } from '../time/clock.ts';

// The agent's named policies; the missed-slot policy (fire only the newest due slot) is the scheduler's
// (scheduler.ts), the deadline policy is enforced at each slot (slots.ts), retries are retry-policy.ts's.

/**
 * Overlap policy (pure): a slot is skipped only when a cycle of its symbol would still run after it, i.e. its deadline
 * is later. Cycles whose deadline is this slot are cut on the boundary instead, so this is a safety net (a deadline
 * computed before a wall-clock step back, say), never the normal path.
 */
export function outlivesSlot(running: Iterable<{ symbol: string; deadline: number }>, symbol: string, slot: number): boolean {
  for (const r of running) if (r.symbol === symbol && r.deadline > slot) return true;
  return false;
}

/** Shutdown policy: wait for in-flight cycles up to `graceMs`, then abort them and wait for their rows to close. */
export async function drain(cycles: Promise<unknown>[], clock: Clock, graceMs: number, abort: { abort(): void }, log: Logger): Promise<void> {
  if (cycles.length === 0) return;
  const all = Promise.allSettled(cycles);
  if (await settlesWithin(clock, graceMs, all)) return;
  log.warn(`In-flight cycle(s) still running after SHUTDOWN_GRACE_MS=${graceMs}; aborting`);
  abort.abort();
  await all;
}
