import { redactorOf, type Config } from '../config.ts';
import { createDiegoClient, type DiegoClient } from '../diego/client.ts';
import type { Logger } from '../log/logger.ts';
import { createNotifier } from '../notify/notifier.ts';
import { ownerOf, type AgentIdentity } from '../records.ts';
import { createHistoryStore } from '../store/history/history-store.ts';
import type { Database, HistoryStore } from '../store/port.ts';
import { sideFile, sideFilePath, sideFilesLeft, type ReplayResult } from '../store/journal/side-file.ts';
import { createWriteQueue, type WriteQueueOptions } from '../store/journal/write-queue.ts';
import type { Clock } from '../time/clock.ts';
import { createAgentEvents } from './events.ts';
import type { AgentDeps } from './agent.ts';
import { peerWatch } from './peers.ts';
import type { Notify } from './upkeep/systemd-notify.ts';

/** The process edges and choices the agent is built from; `commands/run.ts`, the tests and the benchmarks fill them. */
export interface AgentParts {
  config: Config;
  clock: Clock;
  log: Logger;
  database: Database;
  identity: AgentIdentity;
  isAlive: (pid: number) => boolean;
  newId: () => string;
  stop: AbortSignal;
  /** Where a record that cannot be written at shutdown goes, one JSON line each (the CLI passes stderr). */
  dump: (line: string) => void;
  /** Tests: stands between the backend's store and the write queue (a fault injector). */
  wrapBackend?: (real: HistoryStore) => HistoryStore;
  /** Tests: a faster flush backoff or a smaller queue. */
  queue?: Pick<WriteQueueOptions, 'retry' | 'limit' | 'byteLimit' | 'reportEveryMs'>;
  /** Tests: told each time the write queue turns lock waits off (an outage) or back on. */
  watchLockWaits?: (wait: boolean) => void;
  /** Under systemd: READY, the watchdog and STOPPING (agent/upkeep/systemd-notify.ts); undefined elsewhere. */
  systemd?: Notify;
  /** Tests: a client that watches what is sent (default: the real one on `config.diegoUrl`). */
  client?: (real: DiegoClient) => DiegoClient;
}

/**
 * The one composition of the agent: the backend's history store behind the write queue (so a database outage
 * costs no record), the Diego client, the redactor. Whether a slot whose claim cannot be written still fires is the
 * backend's choice: yes on SQLite used by one agent (availability), no on PostgreSQL shared by replicas and on a
 * SQLite file another agent shares (exactly once).
 */
export function composeAgent(p: AgentParts): AgentDeps {
  const { config, clock, log, database } = p;
  const { db, traits } = database;
  const redact = redactorOf(config);
  const events = createAgentEvents(log);
  const notifier = createNotifier(config, { db, owner: ownerOf(p.identity), clock, log, redact });
  const backend = createHistoryStore(db, redact, traits, notifier.endNotices);
  // SQLite lets a slot fire without its claim written, unless another agent may share the file: replicas by
  // configuration, or another live agent seen at a heartbeat.
  const peers = traits.claimMustSucceed ? undefined : peerWatch(log.child('STORE'));
  const shared = p.identity.replicaId !== undefined;
  const inner = p.wrapBackend ? p.wrapBackend(backend) : backend;
  const base = traits.sideFileBase;
  const store = createWriteQueue(inner, {
    log: log.child('STORE'),
    clock,
    dump: p.dump,
    redact,
    claimMustSucceed: () => traits.claimMustSucceed || shared || peers?.shared() === true,
    isStorageFault: traits.isUnavailable,
    mayHaveCommitted: traits.mayHaveCommitted,
    sideFile: base === undefined ? undefined : sideFile(sideFilePath(base, p.identity.pid)),
    onOutage: (error) => events.emit('store:outage', { error }),
    lockWaits:
      traits.setLockWait &&
      ((wait) => {
        p.watchLockWaits?.(wait);
        return traits.setLockWait!(wait);
      }),
    ...p.queue,
  });
  // The outbox is in the database that just failed: this one goes out from memory.
  events.on('store:outage', ({ error }) => notifier.direct('storage_fault', `the database cannot be written (${error}); records wait in memory`, { lastError: error }));
  const client = createDiegoClient({ baseUrl: config.diegoUrl, token: config.diegoToken, basicAuth: config.diegoBasicAuth, maxResponseBytes: config.maxResponseBytes, now: clock.now });
  return {
    config,
    clock,
    log,
    database,
    store,
    client: p.client ? p.client(client) : client,
    notifier,
    events,
    identity: p.identity,
    peers,
    // Before the agent's first write: what dead agents of this host left in their side files goes to the database.
    replaySideFiles:
      base === undefined
        ? undefined
        : async () => {
            const done: { path: string; result: ReplayResult }[] = [];
            for (const path of sideFilesLeft(base, p.identity.pid, p.isAlive)) {
              const result = await sideFile(path).replay(inner, db);
              if (result) done.push({ path, result });
            }
            return done;
          },
    isAlive: p.isAlive,
    newId: p.newId,
    stop: p.stop,
    systemd: p.systemd,
  };
}
