import type { Kysely } from 'kysely';
import type { Clock } from './clock.ts';
import { describeConfig, type Config } from './config.ts';
import { runCycle, type CycleDeps } from './cycle.ts';
import type { DiegoClient } from './diego-client.ts';
import type { Logger } from './log.ts';
import { waitForReady, type ReadyTarget } from './readiness.ts';
import { formatSummary, queryStats } from './reports/stats-query.ts';
import { runSchedule } from './scheduler.ts';
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
  const inFlight = new Map<string, Promise<unknown>>();
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

  const fire = (slot: number, trigger: Trigger, deadline: number) => {
    for (const symbol of config.symbols) {
      const label = config.symbols.length > 1 ? ` (${symbol})` : '';
      if (inFlight.has(symbol)) {
        // Overlap policy: skip. The deadline normally ends a cycle by its next slot; this is the safety net.
        log.warn(`Previous cycle for ${symbol} still running at slot ${new Date(slot).toISOString()}: slot skipped (overlap)`);
        const skipped = d.store.recordSkipped(
          { symbol, timeframe: config.timeframe, trigger, scheduledAt: slot, deadlineAt: deadline, startedAt: clock.now(), idempotencyKey: d.newId(), owner: cycleDeps.owner },
          'overlap',
          'previous cycle still running',
        );
        skipped.catch((err) => log.error(`Could not record skipped slot for ${symbol}`, {}, err));
        continue;
      }
      const run = runCycle({ symbol, trigger, slot, deadline }, { ...cycleDeps, label }, abortCycles.signal)
        .catch((err) => log.error(`Cycle for ${symbol} at ${new Date(slot).toISOString()} crashed`, { symbol }, err))
        .finally(() => inFlight.delete(symbol));
      inFlight.set(symbol, run);
    }
  };

  const firstSlot = config.cron.next(clock.now());
  log.info(`Next fire time: ${new Date(firstSlot).toISOString()}`, { next: new Date(firstSlot).toISOString() });
  if (config.runOnStart) fire(clock.now(), 'startup', firstSlot);

  const statsLoop = config.statsIntervalMs > 0 ? logStatsEvery(d, startedAt) : Promise.resolve();
  await runSchedule({
    cron: config.cron,
    clock,
    after: clock.now(),
    signal: d.stop,
    onSlot: (slot) => fire(slot, 'schedule', config.cron.next(slot)),
    onMissed: (count, first, fired) =>
      log.warn(`Missed ${count} slot(s) from ${new Date(first).toISOString()} (late wake-up or clock jump); firing only ${new Date(fired).toISOString()}`),
    onClockBack: (now, lastFired) =>
      log.warn(`Wall clock went back to ${new Date(now).toISOString()}, before the last slot fired (${new Date(lastFired).toISOString()}); waiting, no slot fires twice`),
  });

  log.info(`Stopping: no new cycles; ${inFlight.size} in flight`);
  await drain([...inFlight.values()], clock, config.shutdownGraceMs, abortCycles, log);
  await statsLoop;
  log.info('Stopped');
  return 0;
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
      log.info(formatSummary(`Last ${Math.round(every / 1000)} s`, await queryStats(d.db, { since: now - every })));
      log.info(formatSummary('Since start', await queryStats(d.db, { since: startedAt })));
    } catch (err) {
      log.warn('Could not compute stats', {}, err);
    }
  }
}
