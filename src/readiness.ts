import type { Clock } from './clock.ts';
import { probeHealth } from './diego-client.ts';
import type { Logger } from './log.ts';

export interface ReadyTarget {
  name: string;
  url: string;
}

const FIRST_WAIT_MS = 500;
const MAX_WAIT_MS = 10_000;
const PROBE_TIMEOUT_MS = 5_000;

/** Capped exponential backoff between readiness probes (pure). */
export function readinessDelay(tries: number): number {
  return Math.min(MAX_WAIT_MS, FIRST_WAIT_MS * 2 ** Math.max(0, tries - 1));
}

/**
 * Waits until every target's `GET /health` answers 2xx, logging each wait.
 * Resolves `ready`, `timeout` (after `timeoutMs`, 0 = never) or `stopped` (signal).
 */
export async function waitForReady(targets: ReadyTarget[], clock: Clock, log: Logger, timeoutMs: number, signal: AbortSignal): Promise<'ready' | 'timeout' | 'stopped'> {
  const start = clock.now();
  for (const t of targets) {
    for (let tries = 1; ; tries++) {
      if (signal.aborted) return 'stopped';
      const r = await probeHealth(t.url, PROBE_TIMEOUT_MS, signal);
      if (r.ok) {
        log.info(`${t.name} is ready at ${t.url}`);
        break;
      }
      if (signal.aborted) return 'stopped';
      const elapsed = clock.now() - start;
      if (timeoutMs > 0 && elapsed >= timeoutMs) {
        log.error(`${t.name} not ready at ${t.url} after ${elapsed} ms (READY_TIMEOUT_MS=${timeoutMs}): ${r.reason}`);
        return 'timeout';
      }
      const wait = Math.min(readinessDelay(tries), timeoutMs > 0 ? timeoutMs - elapsed : Infinity);
      log.info(`Waiting for ${t.name} at ${t.url}/health (${r.reason}); retrying in ${wait} ms`);
      await clock.sleep(wait, signal);
    }
  }
  return 'ready';
}
