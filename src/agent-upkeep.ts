import type { Kysely } from 'kysely';
import type { Clock } from './clock.ts';
import type { Config } from './config.ts';
import type { CycleResult } from './cycle.ts';
import { errorText } from './error-text.ts';
import type { Logger } from './log.ts';
import { queryCycle } from './reports/history-query.ts';
import { addCycle, addSkipped, emptyMetrics, renderMetrics, writeFileAtomic, type MetricsState } from './reports/metrics-file.ts';
import { pruneHistory } from './reports/prune.ts';
import { lastCycleWithStatus } from './reports/stats-query.ts';
import { registerAgent, type AgentRegistration } from './store/agent-registry.ts';
import { ownerOf, type AgentIdentity } from './store/history-store.ts';
import { LEASE_CHECK_MS, checkLeases } from './store/leases.ts';
import type { Schema } from './store/schema.ts';
import { VERSION } from './version.ts';

/** How often the heartbeat row is refreshed; `healthcheck` calls it stale after 60 s by default. */
export const HEARTBEAT_INTERVAL_MS = 10_000;
/** Retention runs this long after start (not in the start-up rush)… */
export const RETENTION_FIRST_DELAY_MS = 60_000;
/** …then once a day. */
export const RETENTION_INTERVAL_MS = 86_400_000;
/** Pause between two delete batches, so cycles run in between. */
export const RETENTION_PAUSE_MS = 50;

/** What the chores need from the agent. */
export interface UpkeepDeps {
  db: Kysely<Schema>;
  config: Config;
  clock: Clock;
  log: Logger;
  identity: AgentIdentity;
}

/** The agent's background chores: heartbeat, cycle leases, daily retention, the Prometheus textfile. */
export interface Upkeep {
  /** After a cycle ended: update and rewrite the metrics file (never awaited by the cycle). */
  cycleEnded(result: CycleResult): void;
  /** After a slot was recorded as skipped. */
  slotSkipped(): void;
  /** Ends the loops, waits for the last metrics write and marks the agent stopped (a clean stop). */
  close(): Promise<void>;
}

/**
 * Registers the agent's heartbeat row and starts its chores. None of them ever holds up a cycle: they run on their
 * own timers, retention deletes in small batches with pauses, and metrics are written after a cycle has ended.
 */
export async function startUpkeep(d: UpkeepDeps): Promise<Upkeep> {
  const { db, config, clock } = d;
  const log = d.log.child('UPKEEP');
  const ended = new AbortController();
  const stop = ended.signal;
  const record = {
    owner: ownerOf(d.identity),
    host: d.identity.host,
    pid: d.identity.pid,
    version: VERSION,
    cronPattern: config.cron.text,
    symbols: config.symbols,
    startedAt: clock.now(),
  };
  // A database that is down must not stop the agent: the row is created at the first beat that can write it.
  let registration: AgentRegistration | undefined;
  // Logged once per outage (the write queue already reports the outage itself), not every beat with a stack.
  let failing = false;
  const beat = async () => {
    try {
      if (registration === undefined) registration = await registerAgent(db, record);
      else await registration.heartbeat(clock.now());
      if (failing) log.info('Heartbeat written again');
      failing = false;
    } catch (err) {
      if (!failing) log.warn(`Could not write the heartbeat: ${errorText(err)}; healthcheck will report it stale until the database is back`);
      failing = true;
    }
  };
  await beat();
  const heartbeat = (async () => {
    while (!stop.aborted) {
      await clock.sleep(HEARTBEAT_INTERVAL_MS, stop);
      if (!stop.aborted) await beat();
    }
  })();

  const leases = leaseKeeper(db, record.owner, clock, log, stop);

  const retention = config.historyRetentionDays > 0 ? retentionLoop(db, config.historyRetentionDays, clock, log, stop) : Promise.resolve();

  const metrics = config.metricsFile === undefined ? undefined : await metricsWriter(db, config.metricsFile, clock.now(), log);

  return {
    cycleEnded: (result) => metrics?.cycleEnded(result),
    slotSkipped: () => metrics?.slotSkipped(),
    async close() {
      ended.abort();
      await Promise.all([heartbeat, leases, retention]);
      await metrics?.idle();
      await registration?.markStopped(clock.now()).catch((err) => log.warn('Could not record the clean stop', {}, err));
    },
  };
}

/**
 * Every LEASE_CHECK_MS: renews the leases of this agent's running cycles, and marks `interrupted` the running cycles
 * of agents whose lease expired (a replica that died mid-cycle). A failure is logged once per failing spell (the
 * database may be down: the write queue or the claims say so in their own words) and the loop goes on.
 */
async function leaseKeeper(db: Kysely<Schema>, owner: string, clock: Clock, log: Logger, stop: AbortSignal): Promise<void> {
  let failing = false;
  while (!stop.aborted) {
    await clock.sleep(LEASE_CHECK_MS, stop);
    if (stop.aborted) return;
    try {
      const done = await checkLeases(db, owner, clock.now());
      if (failing) log.info('Cycle leases renewed again');
      failing = false;
      const byOwner = new Map<string, number[]>();
      for (const e of done.expired) byOwner.set(e.owner, [...(byOwner.get(e.owner) ?? []), e.id]);
      for (const [dead, ids] of byOwner) {
        log.warn(`Marked ${ids.length} cycle(s) of ${dead} interrupted: its lease expired (the replica died or lost the database mid-cycle): ${ids.map((id) => `#${id}`).join(', ')}`, { owner: dead, cycles: ids });
      }
    } catch (err) {
      // The reason without a stack: an unreachable database is an expected condition, not a bug.
      if (!failing) log.warn(`Could not renew cycle leases (${errorText(err)}); retrying every ${LEASE_CHECK_MS / 1000} s`);
      failing = true;
    }
  }
}

async function retentionLoop(db: Kysely<Schema>, days: number, clock: Clock, log: Logger, stop: AbortSignal): Promise<void> {
  for (let wait = RETENTION_FIRST_DELAY_MS; ; wait = RETENTION_INTERVAL_MS) {
    await clock.sleep(wait, stop);
    if (stop.aborted) return;
    const cutoff = clock.now() - days * 86_400_000;
    try {
      const done = await pruneHistory(db, cutoff, {
        between: async () => {
          await clock.sleep(RETENTION_PAUSE_MS, stop);
          return !stop.aborted;
        },
      });
      if (done.cycles > 0) {
        log.info(`Retention: deleted ${done.cycles} cycle(s) and ${done.attempts} attempt(s) scheduled before ${new Date(cutoff).toISOString()} (HISTORY_RETENTION_DAYS=${days})`, { ...done });
      }
    } catch (err) {
      log.warn('Retention failed; it will run again tomorrow', {}, err);
    }
  }
}

/** Keeps the metrics in memory and rewrites the file after each change, one write at a time. */
async function metricsWriter(db: Kysely<Schema>, path: string, startedAt: number, log: Logger) {
  const last = await lastCycleWithStatus(db, 'succeeded', Number.MAX_SAFE_INTEGER);
  let state: MetricsState = emptyMetrics(startedAt, last?.finished_at == null ? null : Number(last.finished_at));
  let failing = false;
  let chain: Promise<void> = Promise.resolve();
  const write = () => {
    chain = chain.then(async () => {
      try {
        await writeFileAtomic(path, renderMetrics(state));
        if (failing) log.info(`Metrics file ${path} written again`);
        failing = false;
      } catch (err) {
        // Logged once per failing spell, not after every cycle.
        if (!failing) log.warn(`Could not write the metrics file ${path}`, {}, err);
        failing = true;
      }
    });
  };
  const update = (change: () => Promise<void>) => {
    chain = chain.then(change).catch((err) => log.warn('Could not update metrics', {}, err));
    write();
  };
  write();
  await chain; // the file exists once the agent is up
  return {
    cycleEnded(result: CycleResult) {
      const id = result.id;
      if (id === undefined) return;
      update(async () => {
        const found = await queryCycle(db, id);
        if (found) state = addCycle(state, found.cycle, found.attempts);
      });
    },
    slotSkipped() {
      update(async () => {
        state = addSkipped(state);
      });
    },
    idle: () => chain,
  };
}
