import { backoffDelay, RECONNECT_BACKOFF } from '../time/backoff.ts';
import type { Clock } from '../time/clock.ts';
import { probeHealth } from './client.ts';
import type { Logger } from '../log/logger.ts';

export interface ReadyTarget {
  name: string;
  url: string;
  /** `Basic …` from the configured URL's user and password. */
  basicAuth?: string;
}

const PROBE_TIMEOUT_MS = 5_000;

/**
 * Waits until every target's `GET /health` answers 2xx, logging each wait.
 * Resolves `ready`, `timeout` (after `timeoutMs`, 0 = never) or `stopped` (signal).
 */
export async function waitForReady(targets: ReadyTarget[], clock: Clock, log: Logger, timeoutMs: number, signal: AbortSignal): Promise<'ready' | 'timeout' | 'stopped'> {
  const start = clock.now();
  for (const t of targets) {
    for (let tries = 1; ; tries++) {
      if (signal.aborted) return 'stopped';
      const r = await probeHealth(t.url, PROBE_TIMEOUT_MS, signal, t.basicAuth);
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
      const wait = Math.min(backoffDelay(RECONNECT_BACKOFF, tries, clock.random), timeoutMs > 0 ? timeoutMs - elapsed : Infinity);
      log.info(`Waiting for ${t.name} at ${t.url}/health (${r.reason}); retrying in ${wait} ms`);
      await clock.sleep(wait, signal);
    }
  }
  return 'ready';
}
