import type { Kysely } from 'kysely';
import { errorLine } from '../../log/error-line.ts';
import type { Logger } from '../../log/logger.ts';
import { spell } from '../../log/spell.ts';
import { registerAgent, type AgentRecord, type AgentRegistration, type FiringHold } from '../../store/history/agent-registry.ts';
import type { FileCheck } from '../../store/port.ts';
import type { Schema } from '../../store/schema.ts';
import type { Clock } from '../../time/clock.ts';
import { every } from '../../time/every.ts';
import { PEER_FRESH_MS } from '../peers.ts';
import type { Notify } from './systemd-notify.ts';

/** How often the heartbeat row is refreshed; `healthcheck` calls it stale after 60 s by default. */
export const HEARTBEAT_INTERVAL_MS = 10_000;

/** What the heartbeat tells and asks besides its row. */
export interface HeartbeatOptions {
  onBeat?: (at: number) => void;
  systemd?: Notify;
  /** The backend's file check (BackendTraits.checkFile), run before each beat. */
  checkFile?: () => Promise<FileCheck | undefined>;
  /** Told after each beat written which other live agents share the database (PeerWatch.seen). */
  onPeers?: (owners: readonly string[]) => void;
  /** Whether a process of this host runs (a dead agent's row is no peer). */
  isAlive?: (pid: number) => boolean;
}

/**
 * The other live agents sharing the database, as of a beat written at `at`. A previous life of an agent on this
 * host (killed, so never marked stopped) is no peer once its pid is gone.
 */
async function peersOf(registration: AgentRegistration, record: AgentRecord, at: number, isAlive: (pid: number) => boolean = () => true): Promise<string[]> {
  const others = await registration.othersAlive(at - PEER_FRESH_MS);
  return others.filter((o) => o.host !== record.host || isAlive(o.pid)).map((o) => o.owner);
}

/**
 * Runs the backend's file check (BackendTraits.checkFile) and logs what it found: at each heartbeat, and once more at
 * shutdown, after the drain and before the last flush, so a file deleted since the last beat is recreated with every
 * record rather than lost with the process (issue 24 item 4).
 */
export async function checkDatabaseFile(checkFile: (() => Promise<FileCheck | undefined>) | undefined, log: Logger): Promise<void> {
  try {
    const found = await checkFile?.();
    if (found) log.error(`Storage fault: ${found.fault}`);
  } catch (err) {
    log.error(`Storage fault: could not check the database file: ${errorLine(err)}`);
  }
}

/**
 * The agent's row in `agents`, refreshed every HEARTBEAT_INTERVAL_MS. A database that is down must not stop the
 * agent: the row is created at the first beat that can write it. `onBeat` hears every beat that was written (the
 * metrics file's heartbeat gauge); under systemd each beat also feeds the watchdog. Resolves once the first beat
 * was tried.
 */
export async function startHeartbeat(db: Kysely<Schema>, record: AgentRecord, clock: Clock, log: Logger, stop: AbortSignal, opts: HeartbeatOptions = {}) {
  let registration: AgentRegistration | undefined;
  // Logged once per outage (the write queue already reports the outage itself), not every beat with a stack.
  const health = spell(log, (why) => `Could not write the heartbeat: ${why}; healthcheck will report it stale until the database is back`, 'Heartbeat written again');
  // When the readiness wait ended; written with the next beat (the one `ready()` runs, or a later one if that failed).
  let readyAt: number | undefined;
  let readyWritten = false;
  // A firing hold (the clock went back) not written yet: written at once, or with the next beat that can.
  let hold: { value: FiringHold | undefined } | undefined;
  const writeHold = async () => {
    if (hold === undefined || registration === undefined) return;
    const h = hold;
    await registration.holdFiring(h.value);
    if (hold === h) hold = undefined;
  };
  const writeBeat = async () => {
    // Before the beat: a database file deleted or replaced under the agent is found within one beat.
    await checkDatabaseFile(opts.checkFile, log);
    try {
      const at = clock.now();
      const ready = readyWritten ? undefined : readyAt;
      if (registration === undefined) registration = await registerAgent(db, { ...record, readyAt: ready });
      else await registration.heartbeat(at, ready);
      if (ready !== undefined) readyWritten = true;
      await writeHold();
      health.ok();
      opts.onBeat?.(at);
      if (opts.onPeers) opts.onPeers(await peersOf(registration, record, at, opts.isAlive));
    } catch (err) {
      health.failed(err);
    }
  };
  // One beat at a time: `ready()` beats out of turn, and two first beats would register the agent twice.
  let beating = Promise.resolve();
  const beat = () => (beating = beating.then(writeBeat));
  await beat();
  // The systemd watchdog is fed by the heartbeat loop, after each beat returns (written or not: a database outage is
  // the write queue's to ride out, not a reason to restart): a loop that hangs gets the agent restarted.
  void opts.systemd?.('READY=1');
  void opts.systemd?.('WATCHDOG=1');
  const loop = every(clock, stop, HEARTBEAT_INTERVAL_MS, async () => {
    await beat();
    void opts.systemd?.('WATCHDOG=1');
  });
  return {
    /** The agent's row, once written (the clock check records its measurements on it). */
    get registration() {
      return registration;
    },
    /**
     * The readiness wait is over (or there was none): recorded at once, for `healthcheck`, without moving the
     * heartbeat out of its pace (a row not written yet gets it with its first beat).
     */
    ready() {
      readyAt ??= clock.now();
      const at = readyAt;
      return (beating = beating.then(async () => {
        if (readyWritten || registration === undefined) return;
        try {
          await registration.markReady(at);
          readyWritten = true;
        } catch (err) {
          health.failed(err); // written with the next beat instead
        }
      }));
    },
    /** The clock went back: nothing fires before `h.until` (undefined: firing again); recorded at once. */
    hold(h: FiringHold | undefined) {
      hold = { value: h };
      beating = beating.then(() => writeHold().catch((err) => health.failed(err)));
    },
    /** After the loop ended: marks the agent stopped (a clean stop). */
    async close() {
      await loop;
      await beating;
      await registration?.markStopped(clock.now()).catch((err) => log.warn('Could not record the clean stop', {}, err));
    },
  };
}
