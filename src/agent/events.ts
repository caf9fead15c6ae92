import type { SkipReason } from '../records.ts';
import type { Logger } from '../log/logger.ts';
import type { ControlState } from '../control/state.ts';
import type { ClockSample } from '../time/sntp.ts';
import type { EndedCycle } from './cycle.ts';
import type { ControlNotice } from '../control/watch.ts';

/**
 * Everything the agent's loops tell the rest of the world, one typed map (graphile-worker's WorkerEventMap): the
 * metrics file, the missed-slot summary, the notifications, Healthchecks, the agents row and tests subscribe to it,
 * instead of each being wired by hand into the loop that notices. Emitted off a slot's path only (after a cycle
 * ended, a slot was recorded, a clock check, a control reload, a failed write).
 */
export interface AgentEventMap {
  /** A slot was recorded `skipped` without a cycle of its own (paused, overlap, clock skew…), with its reason. */
  'slot:skipped': { reason: SkipReason; job?: { symbol: string; timeframe: string } };
  /** The agent's heartbeat row was written (every HEARTBEAT_INTERVAL_MS while the database takes it). */
  'agent:beat': { at: number };
  /** A cycle this agent ran ended, as recorded. */
  'cycle:ended': { ended: EndedCycle };
  /** A clock check measured the offset (NTP_SERVER, or the database server's clock). */
  'clock:measured': ClockSample & { at: number; source: string };
  /** The exchange's clock was read (EXCHANGE_TIME_URL): its offset, round trip, and whether slots fire on it. */
  'clock:exchange': { offsetMs: number; rttMs: number; at: number; firing: boolean };
  /** FIRE_CLOCK=exchange fell back to our clock (`firing` false) or is back on the exchange's. */
  'clock:fire': { firing: boolean };
  /** The offset went above CLOCK_SKEW_WARN_MS (or CLOCK_SKEW_MAX_MS: `blocking`), or came back below it. */
  'clock:skew': { skewed: boolean; offsetMs: number; blocking: boolean };
  /** The database could not be written: an outage began, records wait in memory. */
  'store:outage': { error: string };
  /** The live control state this agent holds was reloaded (a pause, a resume, a reschedule…). */
  'control:changed': { state: ControlState };
  /** A control change worth telling a person (the same key on every replica). */
  'control:notice': ControlNotice;
}

export type AgentEventName = keyof AgentEventMap;
type Listener<K extends AgentEventName> = (event: AgentEventMap[K]) => void;

/** The agent's event stream: subscribe with `on` (or await one with `once`); the agent emits. */
export interface AgentEvents {
  /** Subscribes; returns the unsubscribe. Listeners run synchronously, in the order they subscribed. */
  on<K extends AgentEventName>(name: K, listener: Listener<K>): () => void;
  /** The next event of `name` that `match` accepts (default: the next one), e.g. for a test to await. */
  once<K extends AgentEventName>(name: K, match?: (event: AgentEventMap[K]) => boolean): Promise<AgentEventMap[K]>;
  /**
   * Tells every listener of `name` (graphile-worker's safeEmit): a listener that throws is logged and the others
   * still hear the event; the emitter never sees the error, so an observer cannot break the loop that emits.
   */
  emit<K extends AgentEventName>(name: K, event: AgentEventMap[K]): void;
}

/** A new, empty event stream; a listener's error goes to `log`. */
export function createAgentEvents(log: Logger): AgentEvents {
  const listeners = new Map<AgentEventName, Set<(event: never) => void>>();
  const on = <K extends AgentEventName>(name: K, listener: Listener<K>) => {
    const set = listeners.get(name) ?? new Set();
    listeners.set(name, set);
    set.add(listener as (event: never) => void);
    return () => void set.delete(listener as (event: never) => void);
  };
  return {
    on,
    once: (name, match = () => true) =>
      new Promise((resolve) => {
        const off = on(name, (event) => {
          if (!match(event)) return;
          off();
          resolve(event);
        });
      }),
    emit(name, event) {
      for (const listener of [...(listeners.get(name) ?? [])]) {
        try {
          (listener as Listener<typeof name>)(event);
        } catch (err) {
          log.error(`A listener of ${name} failed`, {}, err);
        }
      }
    },
  };
}

/** Subscriptions that end together: the chores' listeners, dropped at their close (a stream outlives one run). */
export function subscriptions(events: AgentEvents): { on: AgentEvents['on']; end(): void } {
  const offs: (() => void)[] = [];
  return {
    on: (name, listener) => {
      const off = events.on(name, listener);
      offs.push(off);
      return off;
    },
    end: () => offs.splice(0).forEach((off) => off()),
  };
}
