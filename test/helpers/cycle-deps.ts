import { randomUUID } from 'node:crypto';
import type { Kysely } from 'kysely';
import type { CycleDeps } from '../../src/agent/cycle.ts';
import { createDiegoClient } from '../../src/diego/client.ts';
import type { Logger } from '../../src/log/logger.ts';
import { createHistoryStore } from '../../src/store/history/history-store.ts';
import type { Schema } from '../../src/store/schema.ts';
import type { Clock } from '../../src/time/clock.ts';

/**
 * A cycle's real dependencies for an in-process test: a Diego client for `diegoUrl` (or `client`), the history store
 * on `db`, the test's clock and log; 3 attempts 1 s apart, a 20 s timeout, execution on, unless `over` says otherwise.
 */
export function testCycleDeps(w: { clock: Clock; db: Kysely<Schema>; log: Logger; diegoUrl: string; token?: string; redact?: (s: string) => string }, over: Partial<CycleDeps> = {}): CycleDeps {
  return {
    clock: w.clock,
    client: createDiegoClient({ baseUrl: w.diegoUrl, token: w.token, maxResponseBytes: 1 << 20, now: w.clock.now }),
    store: createHistoryStore(w.db, w.redact ?? ((s) => s)),
    log: w.log,
    retry: { attempts: 3, delayMs: 1000 },
    timeframe: '1m',
    triggerExecution: true,
    diegoTimeoutMs: 20_000,
    owner: 'test-host:1',
    newId: randomUUID,
    label: '',
    ...over,
  };
}
