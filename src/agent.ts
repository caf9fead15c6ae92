import type { Kysely } from 'kysely';
import { startUpkeep, type Upkeep } from './agent-upkeep.ts';
import type { Clock } from './clock.ts';
import { describeConfig, type Config } from './config.ts';
import { runCycle, type CycleDeps, type CycleJob, type Release } from './cycle.ts';
import type { DiegoClient } from './diego-client.ts';
import type { Logger } from './log.ts';
import { waitForReady, type ReadyTarget } from './readiness.ts';
import { formatSummary, queryStats } from './reports/stats-query.ts';
import { runSchedule } from './scheduler.ts';
import type { BackendTraits } from './store/database.ts';
import { ownerOf, type AgentIdentity, type HistoryStore } from './store/history-store.ts';
import type { Schema, Trigger } from './store/schema.ts';
import { VERSION } from './version.ts';

/** Everything the agent touches, injected: tests pass a fake clock, a temp database and a local Diego. */
export interface AgentDeps {
  config: Config;
  clock: Clock;
  log: Logger;
  db: Kysely<Schema>;
  dbLocation: string;
  store: HistoryStore;
  client: DiegoClient;
  identity: AgentIdentity;
  isAlive: (pid: number) => boolean;
  newId: () => string;
  /** What the database backend guarantees (default: SQLite's, where every start fires its own startup cycle). */
  traits?: Pick<BackendTraits, 'startupOncePerInterval'>;
  /** Aborts at SIGINT/SIGTERM: stop scheduling, then drain. */
  stop: AbortSignal;
}

/** Exit status of the agent: 0 after a normal stop, 1 when readiness ran out. */
export type AgentExit = 0 | 1;

/**
 * The agent's life: recover dead cycles, wait for Diego (and Miguel), run on start, fire every slot for every
 * symbol, log stats every STATS_INTERVAL_MS, and on stop let in-flight cycles finish for SHUTDOWN_GRACE_MS.
 */
export async function runAgent(d: AgentDeps): Promise<AgentExit> {
  // One shutdown budget, SHUTDOWN_GRACE_MS from the stop signal, covers draining in-flight cycles and then the last
  // flush of writes queued during a database outage (what is still unwritten after it goes to stderr).
  let stoppedAt: number | undefined;
  const noteStop = () => (stoppedAt ??= d.clock.now());
  if (d.stop.aborted) noteStop();
  else d.stop.addEventListener('abort', noteStop, { once: true });
  // Heartbeat, retention and the metrics file run for the agent's whole life; closing marks the agent stopped.
  const upkeep = await startUpkeep({ db: d.db, config: d.config, clock: d.clock, log: d.log, identity: d.identity });
  try {
    return await runUntilStopped(d, upkeep);
  } finally {
    await d.store.settle?.(Math.max(0, (stoppedAt ?? d.clock.now()) + d.config.shutdownGraceMs - d.clock.now()));
    await upkeep.close();
  }
}

async function runUntilStopped(d: AgentDeps, upkeep: Upkeep): Promise<AgentExit> {
  const { config, clock, log } = d;
  const startedAt = clock.now();
  log.info(`pmf-scheduler ${VERSION} starting (owner ${ownerOf(d.identity)})`, { version: VERSION });
  log.info(`Configuration: ${Object.entries(describeConfig(config)).map(([k, v]) => `${k}=${v}`).join(' ')}`, { config: describeConfig(config) });
  log.info(`Database: ${d.dbLocation}`);

  const recovered = await d.store.recoverInterrupted(startedAt, d.identity, d.isAlive);
  if (recovered > 0) log.warn(`Marked ${recovered} cycle(s) left running by a stopped agent as interrupted`);

  if (!config.enableScheduler) {
    log.warn('Scheduler disabled (ENABLE_SCHEDULER=false): no calls will be made; idle until stopped');
    await new Promise<void>((resolve) => (d.stop.aborted ? resolve() : d.stop.addEventListener('abort', () => resolve(), { once: true })));
    return 0;
  }

  if (config.waitForReady) {
    const targets: ReadyTarget[] = [{ name: 'Diego', url: config.diegoUrl }];
    if (config.miguelUrl) targets.push({ name: 'Miguel', url: config.miguelUrl });
    const ready = await waitForReady(targets, clock, log, config.readyTimeoutMs, d.stop);
    if (ready === 'timeout') return 1;
    if (ready === 'stopped') return 0;
  }

  // Aborted only when the shutdown grace runs out: in-flight attempts become `aborted`, their cycles `interrupted`.
  const abortCycles = new AbortController();
  // Every cycle not yet closed (drained at stop), with its symbol and deadline for the overlap guard and the cut.
  const running = new Set<{ symbol: string; deadline: number; cut: AbortController; done: Promise<unknown> }>();
  // Cycles claimed ahead of their slot (runSchedule's onPrepare), each waiting for its release at the boundary.
  const prepared = new Map<string, { slot: number; release: (r: Release) => void }>();
  const cycleDeps: CycleDeps = {
    clock,
    client: d.client,
    store: d.store,
    log,
    retry: { attempts: config.retryAttempts, delayMs: config.retryDelayMs },
    timeframe: config.timeframe,
    triggerExecution: config.triggerExecution,
    diegoTimeoutMs: config.diegoTimeoutMs,
    owner: ownerOf(d.identity),
    newId: d.newId,
    label: '',
  };

  const start = (job: Omit<CycleJob, 'cut'>, release?: Promise<Release>) => {
    const { symbol } = job;
    const label = config.symbols.length > 1 ? ` (${symbol})` : '';
    const cut = new AbortController();
    const entry = { symbol, deadline: job.deadline, cut, done: Promise.resolve() as Promise<unknown> };
    entry.done = runCycle({ ...job, cut: cut.signal }, { ...cycleDeps, label }, abortCycles.signal, release)
      .then((result) => upkeep.cycleEnded(result))
      .catch((err) => log.error(`Cycle for ${symbol} at ${new Date(job.slot).toISOString()} crashed`, { symbol }, err))
      .finally(() => running.delete(entry));
    running.add(entry);
  };
  const busyPast = (symbol: string, slot: number) => outlivesSlot(running, symbol, slot);

  // PREPARE_LEAD_MS before a slot: claim it and write the first attempt's row now, so at the boundary only the
  // request is left to send. A symbol whose previous cycle would outlive the slot is decided at the slot.
  const prepare = (slot: number) => {
    for (const symbol of config.symbols) {
      if (busyPast(symbol, slot)) continue;
      let release!: (r: Release) => void;
      const gate = new Promise<Release>((resolve) => (release = resolve));
      prepared.set(symbol, { slot, release });
      start({ symbol, trigger: 'schedule', slot, deadline: config.cron.next(slot) }, gate);
    }
  };

  // `deadline` defaults to the next slot, computed only after the prepared cycles are released.
  const fire = (slot: number, trigger: Trigger, deadline?: number) => {
    const fresh: string[] = [];
    for (const symbol of config.symbols) {
      const ready = prepared.get(symbol);
      prepared.delete(symbol);
      if (ready?.slot === slot) ready.release('fire');
      else {
        // Prepared for a slot that was passed over (a late wake-up): it closes as skipped; this slot runs fresh.
        ready?.release('missed');
        fresh.push(symbol);
      }
    }
    // The deadline policy, enforced on the boundary: every cycle whose deadline is this slot (or earlier) ends now.
    for (const r of running) if (r.deadline <= slot) r.cut.abort();
    if (fresh.length === 0) return;
    const until = deadline ?? config.cron.next(slot);
    for (const symbol of fresh) {
      if (busyPast(symbol, slot)) {
        // Overlap policy: skip. Cycles end at their deadline, the next slot; this is the safety net.
        log.warn(`Previous cycle for ${symbol} still running at slot ${new Date(slot).toISOString()}: slot skipped (overlap)`);
        const skipped = d.store.recordSkipped(
          { symbol, timeframe: config.timeframe, trigger, scheduledAt: slot, deadlineAt: until, startedAt: clock.now(), idempotencyKey: d.newId(), owner: cycleDeps.owner },
          'overlap',
          'previous cycle still running',
        );
        skipped.then((recorded) => recorded && upkeep.slotSkipped(), (err) => log.error(`Could not record skipped slot for ${symbol}`, {}, err));
        continue;
      }
      start({ symbol, trigger, slot, deadline: until });
    }
  };

  const startedNow = clock.now();
  const firstSlot = config.cron.next(startedNow);
  log.info(`Next fire time: ${new Date(firstSlot).toISOString()}`, { next: new Date(firstSlot).toISOString() });
  // On a database shared by replicas the startup cycle is keyed by the newest slot (all replicas compute the same),
  // so it fires at most once per interval among them (see claimStartup in src/store/history-store.ts).
  if (config.runOnStart) fire(d.traits?.startupOncePerInterval ? config.cron.latest(startedNow) : startedNow, 'startup', firstSlot);

  const statsLoop = config.statsIntervalMs > 0 ? logStatsEvery(d, startedAt) : Promise.resolve();
  await runSchedule({
    cron: config.cron,
    clock,
    after: clock.now(),
    signal: d.stop,
    onPrepare: prepare,
    onSlot: (slot) => fire(slot, 'schedule'),
    onMissed: (count, first, fired) =>
      log.warn(`Missed ${count} slot(s) from ${new Date(first).toISOString()} (late wake-up or clock jump); firing only ${new Date(fired).toISOString()}`),
    onClockBack: (now, lastFired) =>
      log.warn(`Wall clock went back to ${new Date(now).toISOString()}, before the last slot fired (${new Date(lastFired).toISOString()}); waiting, no slot fires twice`),
  });

  // Only a clock that went back after a slot was prepared leaves one here: it closes as interrupted, unsent.
  for (const { release } of prepared.values()) release('shutdown');
  prepared.clear();
  log.info(`Stopping: no new cycles; ${running.size} in flight`);
  await drain([...running].map((r) => r.done), clock, config.shutdownGraceMs, abortCycles, log);
  await statsLoop;
  log.info('Stopped');
  return 0;
}

/**
 * Overlap policy (pure): a slot is skipped only when a cycle of its symbol would still run after it, i.e. its deadline
 * is later. Cycles whose deadline is this slot are cut on the boundary instead, so this is a safety net (a deadline
 * computed before a wall-clock step back, say), never the normal path.
 */
export function outlivesSlot(running: Iterable<{ symbol: string; deadline: number }>, symbol: string, slot: number): boolean {
  for (const r of running) if (r.symbol === symbol && r.deadline > slot) return true;
  return false;
}

/** Shutdown policy: wait for in-flight cycles up to `graceMs`, then abort them and wait for their rows to close. */
async function drain(cycles: Promise<unknown>[], clock: Clock, graceMs: number, abort: AbortController, log: Logger): Promise<void> {
  if (cycles.length === 0) return;
  const all = Promise.allSettled(cycles);
  const timer = new AbortController();
  const finished = await Promise.race([all.then(() => true), clock.sleep(graceMs, timer.signal).then(() => false)]);
  timer.abort();
  if (finished) return;
  log.warn(`In-flight cycle(s) still running after SHUTDOWN_GRACE_MS=${graceMs}; aborting`);
  abort.abort();
  await all;
}

async function logStatsEvery(d: AgentDeps, startedAt: number): Promise<void> {
  const log = d.log.child('STATS');
  const every = d.config.statsIntervalMs;
  for (;;) {
    await d.clock.sleep(every, d.stop);
    if (d.stop.aborted) return;
    const now = d.clock.now();
    try {
      const expected = { now, cron: d.config.cron, symbols: d.config.symbols };
      log.info(formatSummary(`Last ${Math.round(every / 1000)} s`, await queryStats(d.db, { since: now - every, ...expected })));
      log.info(formatSummary('Since start', await queryStats(d.db, { since: startedAt, ...expected })));
    } catch (err) {
      log.warn('Could not compute stats', {}, err);
    }
  }
}
