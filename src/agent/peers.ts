import type { Logger } from '../log/logger.ts';

/**
 * Whether other live agents share this SQLite file, as the heartbeat last saw them in `agents`. While one does, a slot
 * whose claim cannot be written is not fired (two agents firing through a lock, each with its claim queued, fired
 * the same slots under two keys: issue 15); alone, the agent keeps firing and queues the claim (availability wins).
 */
export interface PeerWatch {
  shared(): boolean;
  /** The owners of the other live agents, from the latest heartbeat that could read them. */
  seen(owners: readonly string[]): void;
}

/** How recent another agent's heartbeat must be for it to count as alive: healthcheck's default `--max-age`. */
export const PEER_FRESH_MS = 60_000;

export function peerWatch(log: Logger): PeerWatch {
  let others: readonly string[] = [];
  return {
    shared: () => others.length > 0,
    seen(owners) {
      const was = others.length > 0;
      others = owners;
      if (!was && owners.length > 0) log.info(`Another agent shares this database (${owners.join(', ')}): a slot whose claim cannot be written is not fired`);
      else if (was && owners.length === 0) log.info('No other agent shares this database now: a slot whose claim cannot be written fires, its claim queued');
    },
  };
}
