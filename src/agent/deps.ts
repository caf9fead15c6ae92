import type { Config } from '../config.ts';
import type { DiegoClient } from '../diego/client.ts';
import type { Logger } from '../log/logger.ts';
import type { Notifier } from '../notify/notifier.ts';
import type { AgentIdentity } from '../records.ts';
import type { Database } from '../store/port.ts';
import type { ReplayResult } from '../store/journal/side-file.ts';
import type { WriteQueue } from '../store/journal/write-queue.ts';
import type { Clock } from '../time/clock.ts';
import type { AgentEvents } from './events.ts';
import type { PeerWatch } from './peers.ts';
import type { Notify } from './upkeep/systemd-notify.ts';

/** Everything the agent touches, injected (composed once, in wiring.ts): tests pass a fake clock and a local Diego. */
export interface AgentDeps {
  config: Config;
  clock: Clock;
  log: Logger;
  /** The open database: upkeep and the stats summary read it; `store` writes the records. */
  database: Database;
  store: WriteQueue;
  client: DiegoClient;
  /** Alerts and the dead-man's switch: never waited on, never on a slot's path. */
  notifier: Notifier;
  /** What the agent's loops tell (cycles ended, slots skipped, clock, outages, control): observers subscribe here. */
  events: AgentEvents;
  identity: AgentIdentity;
  /** SQLite: the other agents sharing the file, told by the heartbeat (absent where claims must succeed anyway). */
  peers?: PeerWatch;
  /** Writes what dead agents of this host left in their side files (SQLite); what each file gave. */
  replaySideFiles?: () => Promise<{ path: string; result: ReplayResult }[]>;
  isAlive: (pid: number) => boolean;
  newId: () => string;
  /** Aborts at SIGINT/SIGTERM: stop scheduling, then drain. */
  stop: AbortSignal;
  /** Under systemd (`Type=notify`): READY=1, WATCHDOG=1 with every heartbeat, STOPPING=1. */
  systemd?: Notify;
}
