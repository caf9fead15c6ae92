import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { runAgent, type AgentExit } from '../../src/agent/agent.ts';
import type { AgentEvents } from '../../src/agent/events.ts';
import { composeAgent, type AgentParts } from '../../src/agent/wiring.ts';
import type { Clock } from '../../src/time/clock.ts';
import { formatProblem, parseConfig, type Config, type DatabaseTarget } from '../../src/config.ts';
import { createRedactor } from '../../src/log/redact.ts';
import { openDatabase } from '../../src/store/open.ts';
import type { Database, HistoryStore } from '../../src/store/port.ts';
import type { WriteQueue } from '../../src/store/journal/write-queue.ts';
import { captureLog } from './capture-log.ts';
import { fastClock, type FastClock } from './fast-clock.ts';
import { until, within } from './wait.ts';

/** A Monday, on a whole minute: slots of `* * * * * *` fall on whole seconds after it. */
export const T0 = Date.UTC(2024, 0, 22, 10, 0, 0);

/**
 * A configuration as `parseConfig` builds it, from quiet test defaults (every second, no readiness wait, no
 * Miguel, no stats, no startup cycle) overridden by `env`. Throws on an invalid value: a test's own mistake.
 */
export function testConfig(env: Record<string, string>): Config {
  const parsed = parseConfig({
    CRON_PATTERN: '* * * * * *',
    MIGUEL_URL: '',
    WAIT_FOR_READY: 'false',
    RUN_ON_START: 'false',
    STATS_INTERVAL_MS: '0',
    ...env,
  });
  if ('problems' in parsed) throw new Error(parsed.problems.map(formatProblem).join('; '));
  return parsed.config;
}

export interface AgentUnderTest {
  /** The agent's own fast clock. */
  clock: FastClock;
  /** The waits that move its time, in ms as asked: scheduling waits (readiness, a slot's last stretch) and retry delays. */
  sleeps: number[];
  /** Every POST it sent, with its own time at the moment it sent it (the Idempotency-Key links it to its cycle). */
  sent: { at: number; idempotencyKey: string; requestId: string }[];
  /** Its log, the write queue's (component STORE) included. */
  log: ReturnType<typeof captureLog>;
  /** The JSON lines of records the write queue could not write (what the CLI prints on stderr). */
  dumped: string[];
  database: Database;
  /** Distinct slots this agent fired (claimed, lost to another agent, or recorded skipped), over all symbols. */
  readonly fired: number;
}

export interface AgentGroup {
  agents: AgentUnderTest[];
  /** Cycles claimed and not yet finished, over all agents. */
  readonly active: number;
  /** Shared by all agents: aborting it is SIGTERM. */
  stop: AbortController;
  /** Every agent's exit code; rejects if one crashed (a gate that timed out, for instance). */
  exits: Promise<AgentExit[]>;
  /** Stops the agents if they still run and closes their databases. */
  close(): Promise<void>;
}

export interface AgentSetup {
  /** The SQLite file, or with `target` any database; every agent opens its own connection to it. */
  path?: string;
  target?: DatabaseTarget;
  env: Record<string, string>;
  /** Agents sharing the database (default 1); each has its own clock, log, identity and store. */
  count?: number;
  start?: number;
  /** Added to `start` for agent `i`: replicas whose clocks disagree (default 0 for all). */
  clockSkewMs?: (agent: number) => number;
  earlyMs?: number;
  /** The agents' clocks move only by their sleeps (fastClock `frozen`): exact times, whatever the load. */
  frozen?: boolean;
  /** Default gate: stop once every agent has fired this many slots (a startup cycle counts) and none runs. */
  slots?: number;
  /** Replaces the default gate; awaited before each scheduling wait (a sleep given the stop signal). */
  gate?: (group: AgentGroup, agent: number) => Promise<void>;
  /** SQLite busy timeout of each agent's connection (default: openDatabase's). */
  busyTimeoutMs?: number;
  /** Puts something between the write queue and the backend's store (a fault injector); default: nothing. */
  wrapBackend?: (real: HistoryStore, agent: number, database: Database) => HistoryStore;
  /** The write queue's pace and size (tests want a fast flush backoff). */
  queue?: AgentParts['queue'];
  /** Told each time the write queue turns waiting for locks off (an outage) or back on. */
  watchLockWaits?: (wait: boolean) => void;
  /** What agent `i` tells systemd (READY=1, WATCHDOG=1, STOPPING=1), with its clock's time. */
  notify?: (agent: number, state: string, at: number) => void;
  /** Subscribes to agent `i`'s event stream before it runs, so no event is missed. */
  listen?: (events: AgentEvents, agent: number) => void;
}

/**
 * Runs `runAgent` in-process against real SQLite and a real Diego client. The fast clock makes waits instant,
 * so something must say when time may move on: before each scheduling wait the agent passes a gate. The default
 * gate lets time reach the next slot only once every cycle has ended and every agent has fired the current slot,
 * as real time would with a slot interval far longer than a cycle; then slots fire in lockstep, `slots` times.
 */
export async function startAgents(setup: AgentSetup): Promise<AgentGroup> {
  const stop = new AbortController();
  const agents: AgentUnderTest[] = [];
  let active = 0;
  // Decremented a macrotask later: by then the agent has also dropped the cycle from its in-flight map, so the
  // next slot cannot see it as still running (that would be a false overlap).
  const ended = () => setImmediate(() => active--);
  const gate = setup.gate ?? lockstep(setup.slots ?? 1);
  const group: AgentGroup = {
    agents,
    get active() {
      return active;
    },
    stop,
    exits: undefined as unknown as Promise<AgentExit[]>,
    async close() {
      stop.abort();
      await within(group.exits, 5000, 'the agents to stop').catch(() => {});
      for (const a of agents) await a.database.close().catch(() => {});
    },
  };

  // The databases open first: the clocks run with real time from their creation, and a slow open (PostgreSQL under
  // load) must not eat the margin before the first slot (T0 + 1 s) that the tests count from.
  const target = setup.target ?? { kind: 'sqlite', path: setup.path ?? assert.fail('startAgents needs a path or a target') };
  const databases: Database[] = [];
  for (let i = 0; i < (setup.count ?? 1); i++) databases.push(await openDatabase(target, { busyTimeoutMs: setup.busyTimeoutMs }));
  // Every agent exists before any runs: the default gate compares each agent with all the others.
  const starts: (() => Promise<AgentExit>)[] = [];
  for (const [i, database] of databases.entries()) {
    const config = testConfig(setup.env);
    const clock = fastClock((setup.start ?? T0) + (setup.clockSkewMs?.(i) ?? 0), { earlyMs: setup.earlyMs, frozen: setup.frozen });
    const redact = createRedactor([config.diegoToken]);
    const log = captureLog({ now: clock.now, redact });
    const firedSlots = new Set<string>();
    const sleeps: number[] = [];
    const sent: AgentUnderTest['sent'] = [];
    const dumped: string[] = [];
    const agent: AgentUnderTest = {
      clock,
      sleeps,
      sent,
      log,
      dumped,
      database,
      get fired() {
        return firedSlots.size;
      },
    };
    agents.push(agent);
    // The fast clock's sleeps move time for everyone, which suits one sleeper at a time: the schedule (gated, and
    // its last stretch before a slot, the only sleep without a signal) and a cycle's retry delay. Other loops
    // (heartbeat, retention, the shutdown grace, the write queue's backoff) wait instead until time gets there,
    // moved by the slots or by real time; else a 10 s heartbeat would make time run away.
    const cycleSignals = new WeakSet<AbortSignal>(); // what the agent gives its cycles (one each), seen at their first attempt
    const gatedClock: Clock = {
      now: clock.now,
      async sleep(ms, signal) {
        if (signal === stop.signal) {
          sleeps.push(ms);
          // The wait ends at call time + ms: the real time the gate took is part of it, not added to it.
          const target = clock.now() + ms;
          if (!signal.aborted) await gate(group, i);
          return clock.sleep(Math.max(0, target - clock.now()), signal);
        }
        if (signal === undefined || cycleSignals.has(signal)) {
          sleeps.push(ms);
          return clock.sleep(ms, signal);
        }
        const target = clock.now() + ms;
        while (clock.now() < target && !signal?.aborted) await new Promise((resolve) => setTimeout(resolve, 2));
      },
    };
    const deps = composeAgent({
      config,
      clock: gatedClock,
      log,
      database,
      identity: { host: `test-host-${i}`, pid: 1000 + i },
      isAlive: () => true,
      newId: randomUUID,
      stop: stop.signal,
      dump: (line) => dumped.push(line),
      wrapBackend: setup.wrapBackend && ((real) => setup.wrapBackend!(real, i, database)),
      queue: setup.queue,
      watchLockWaits: setup.watchLockWaits,
      systemd: setup.notify && (async (state: string) => setup.notify!(i, state, clock.now())),
      client: (real) => ({
        prepare(req, opts) {
          cycleSignals.add(opts.signal);
          const prepared = real.prepare(req, opts);
          return {
            send() {
              const went = prepared.send();
              sent.push({ at: went.sentAt, idempotencyKey: opts.idempotencyKey, requestId: opts.requestId });
              return went;
            },
            cancel: prepared.cancel,
          };
        },
        close: real.close,
      }),
    });
    setup.listen?.(deps.events, i);
    // The composed store, counting what the agent does with it (claims start synchronously inside the slot's fire).
    const real = deps.store;
    const store: WriteQueue = {
      ...real,
      get queued() {
        return real.queued;
      },
      async claimCycle(c) {
        firedSlots.add(`${c.trigger}@${c.scheduledAt}`);
        active++;
        let id: number | undefined;
        try {
          id = await real.claimCycle(c);
        } finally {
          // A claim lost to another agent, or not written at all (PostgreSQL: no claim, no fire), ends here.
          if (id === undefined) ended();
        }
        return id;
      },
      recordSkipped(c, reason, error) {
        firedSlots.add(`${c.trigger}@${c.scheduledAt}`);
        return real.recordSkipped(c, reason, error);
      },
      async finishCycle(id, end) {
        try {
          await real.finishCycle(id, end);
        } finally {
          ended();
        }
      },
    };
    starts.push(() => runAgent({ ...deps, store }));
  }
  group.exits = Promise.all(starts.map((start) => start()));
  return group;
}

/** The default gate: hold agent `i` until no cycle runs and no other agent is behind it; stop after `slots`. */
export function lockstep(slots: number): (g: AgentGroup, i: number) => Promise<void> {
  return async (g: AgentGroup, i: number) => {
    const me = g.agents[i]!;
    await until(() => g.active === 0 && g.agents.every((a) => a.fired >= me.fired), 'cycles to end and agents to catch up');
    if (g.agents.every((a) => a.fired >= slots)) g.stop.abort();
  };
}
