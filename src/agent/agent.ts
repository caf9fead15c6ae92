import { startUpkeep, type Upkeep } from './upkeep/upkeep.ts';
import { checkDatabaseFile } from './upkeep/heartbeat.ts';
import { describeConfig } from '../config.ts';
import { configLines } from './config-lines.ts';
import { waitForReady, type ReadyTarget } from '../diego/readiness.ts';
import { runSchedule } from './scheduler.ts';
import { clockBackWatch } from './clock-back.ts';
import { retryRoom } from './retry-policy.ts';
import { ownerOf } from '../records.ts';
import { drain } from './policies.ts';
import { createSlots } from './slots.ts';
import { createJobs } from './jobs.ts';
import { blackoutReason } from '../time/blackout.ts';
import { VERSION } from '../version.ts';
import type { AgentDeps } from './deps.ts';
import { settlesWithin } from '../time/clock.ts';
import { shiftedClock } from '../time/exchange-time.ts';
import { TIME_TIMEOUT_MS } from './upkeep/exchange-clock.ts';

/** How long the start waits for its readiness mark to be written before arming the first slot. */
const READY_MARK_WAIT_MS = 2000;

export type { AgentDeps };

/** How long the agent's stop waits for the last notifications (`stopping`) to be delivered. */
export const NOTIFY_AT_STOP_MS = 3000;

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
  // Heartbeat, leases, retention, the metrics file and the stats summary run for the agent's whole life; closing
  // marks the agent stopped.
  const { cron, symbols, historyRetentionDays, metricsFile, enableScheduler } = d.config;
  // An idle agent (ENABLE_SCHEDULER=false) fires nothing: a summary would only count its slots as missed.
  const { ntpServer, clockCheckIntervalMs, clockSkewWarnMs, clockSkewMaxMs, exchangeTimeUrl } = d.config;
  const settings = {
    cron,
    symbols,
    historyRetentionDays,
    metricsFile,
    statsIntervalMs: enableScheduler ? d.config.statsIntervalMs : 0,
    enableScheduler,
    clockCheck: ntpServer || exchangeTimeUrl ? { ntpServer, clockCheckIntervalMs, clockSkewWarnMs, clockSkewMaxMs } : undefined,
    exchangeClock: exchangeTimeUrl === undefined ? undefined : { url: exchangeTimeUrl, field: d.config.exchangeTimeField, fireClock: d.config.fireClock },
    ...guardSettings(d.config),
  };
  const upkeep = await startUpkeep({ database: d.database, settings, clock: d.clock, log: d.log, identity: d.identity, notifier: d.notifier, events: d.events, systemd: d.systemd, onPeers: d.peers?.seen, isAlive: d.isAlive });
  try {
    return await runUntilStopped(d, upkeep);
  } finally {
    await checkDatabaseFile(d.database.traits.checkFile, d.log);
    await d.store.settle(Math.max(0, (stoppedAt ?? d.clock.now()) + d.config.shutdownGraceMs - d.clock.now()));
    await upkeep.close();
    await d.notifier.close(NOTIFY_AT_STOP_MS);
  }
}

/** How long the start waits for the exchange's first reading (FIRE_CLOCK=exchange): five samples, each bounded. */
const FIRST_READING_WAIT_MS = 5 * TIME_TIMEOUT_MS;

/** The agent's parts with the slots' clock: FIRE_CLOCK=exchange shifts ours by the exchange's measured offset. */
function fireClockOf(d: AgentDeps, upkeep: Upkeep): AgentDeps {
  const exchange = upkeep.exchangeClock;
  return d.config.fireClock === 'exchange' && exchange ? { ...d, clock: shiftedClock(d.clock, exchange.fireOffset) } : d;
}

/** The guard rails' slices of the configuration (docs/guards.md). */
function guardSettings(c: AgentDeps['config']) {
  const { maxOrdersPerHour, maxOrdersPerHourPerSymbol, executionOffAfterFailures } = c;
  const url = c.exchangeStatusUrl;
  return {
    guards: { maxOrdersPerHour, maxOrdersPerHourPerSymbol, executionOffAfterFailures },
    exchange: url === undefined ? undefined : { url, intervalMs: c.exchangeStatusIntervalMs, field: c.exchangeStatusField, ok: c.exchangeStatusOk, failClosed: c.exchangeStatusFailClosed },
  };
}

async function runUntilStopped(agent: AgentDeps, upkeep: Upkeep): Promise<AgentExit> {
  // The slots' clock: ours, or with FIRE_CLOCK=exchange the exchange's (ours plus its measured offset). Every cycle
  // stamp and lateness is on it; the chores (heartbeat, leases, the clock check itself) stay on ours.
  const d = fireClockOf(agent, upkeep);
  const { clock, log } = d;
  // Live control: the pattern in force is `reschedule`'s when one is set (CRON_PATTERN otherwise), read at each slot.
  const config = { ...d.config, cron: upkeep.control.cron };
  const startedAt = clock.now();
  log.info(`pmf-scheduler ${VERSION} starting (owner ${ownerOf(d.identity)})`, { version: VERSION });
  // Pretty: a few lines of related settings; JSON: the whole configuration as a field of the first.
  configLines(describeConfig(d.config)).forEach((line, i) => log.info(line, i === 0 ? { config: describeConfig(d.config) } : {}));
  log.info(`Database: ${d.database.location}`);

  for (const { path, result } of (await d.replaySideFiles?.()) ?? []) {
    if ('failed' in result) log.error(`Could not replay the side file ${path} (${result.failed}): its records are kept in ${result.keptAt}`);
    else log.warn(`Replayed ${result.writes} queued write(s) from ${path}, left by an agent that stopped during a database outage${result.skipped > 0 ? ` (${result.skipped} of a slot another agent holds, skipped)` : ''}`);
  }
  const recovered = await d.store.recoverInterrupted(startedAt, d.identity, d.isAlive);
  if (recovered > 0) log.warn(`Marked ${recovered} cycle(s) left running by a stopped agent as interrupted`);

  if (!config.enableScheduler) {
    void upkeep.ready(); // nothing to wait for: it is not "waiting for Diego"
    log.warn('Scheduler disabled (ENABLE_SCHEDULER=false): no calls will be made; idle until stopped');
    await new Promise<void>((resolve) => (d.stop.aborted ? resolve() : d.stop.addEventListener('abort', () => resolve(), { once: true })));
    return 0;
  }

  if (config.waitForReady) {
    const targets: ReadyTarget[] = [{ name: 'Diego', url: config.diegoUrl, basicAuth: config.diegoBasicAuth }];
    if (config.miguelUrl) targets.push({ name: 'Miguel', url: config.miguelUrl, basicAuth: config.miguelBasicAuth });
    const ready = await waitForReady(targets, clock, log, config.readyTimeoutMs, d.stop);
    if (ready === 'timeout') return 1;
    if (ready === 'stopped') return 0;
  }
  // Recorded before the first slot is armed (bounded: a slow database must not hold the schedule up), so `status`
  // and `trigger` see the agent firing from the moment it says so.
  await settlesWithin(clock, READY_MARK_WAIT_MS, upkeep.ready());
  if (d.config.fireClock === 'exchange') {
    // The first slot is armed on the exchange's clock when it answers in time; otherwise on ours, said so.
    const read = await settlesWithin(clock, FIRST_READING_WAIT_MS, upkeep.exchangeClock!.first);
    if (!read || upkeep.exchangeClock!.state.kind !== 'exchange') log.warn(`FIRE_CLOCK=exchange: the exchange's clock has not answered yet; slots fire on the local clock until it does`);
  }

  const jobs = createJobs(d.config, upkeep.control);
  const slots = createSlots(d, upkeep, config, jobs, blackoutReason(d.config.executionBlackout));
  const startedNow = clock.now();
  const firstSlot = jobs.cron.next(startedNow);
  log.info(`Next fire time: ${new Date(firstSlot).toISOString()}`, { next: new Date(firstSlot).toISOString() });
  const noRetry = retryRoom(jobs.cron, startedNow, { attempts: config.retryAttempts, delayMs: config.retryDelayMs });
  if (noRetry) log.warn(noRetry);
  d.notifier.notify('started', `started (${jobs.cron.text}, ${(config.schedule.timeframes.length > 1 ? jobs.all.map((j) => j.key) : config.symbols).join(', ')}); next slot ${new Date(firstSlot).toISOString()}`);
  // On a database shared by replicas each job's startup cycle is keyed by its newest slot (all replicas compute the
  // same), so it fires at most once per interval among them (see claimSlot in src/store/history/claims.ts).
  if (config.runOnStart) slots.startup(startedNow, d.database.traits.startupOncePerInterval);

  const clockBack = clockBackWatch(log, d.notifier, upkeep.holdFiring);
  await runSchedule({
    cron: jobs.cron,
    clock,
    after: clock.now(),
    signal: d.stop,
    onPrepare: slots.prepare,
    onLastLook: slots.lastLook,
    onSlot: (slot) => {
      slots.fire(slot, 'schedule');
      clockBack.fired();
    },
    onMissed: (count, first, fired, capped) =>
      log.warn(`Missed ${capped ? `more than ${count - 1}` : count} slot(s) from ${new Date(first).toISOString()} (late wake-up or clock jump); firing only ${new Date(fired).toISOString()}`),
    onClockBack: clockBack.began,
    patternChanges: (listener) => upkeep.control.patternChanges(listener),
    onRescheduled: (next, dropped) => {
      const was = dropped === undefined ? '' : `; the slot ${new Date(dropped.slot).toISOString()} of the old pattern is dropped${dropped.prepared ? ' (released unsent)' : ''}`;
      log.info(`Rescheduled: next fire time ${new Date(next).toISOString()}${was}`, { next: new Date(next).toISOString() });
      // The new pattern may leave a retry no room, as a start-up pattern can (issue 24 item 10): said again for it.
      const noRoom = retryRoom(config.cron, clock.now(), { attempts: config.retryAttempts, delayMs: config.retryDelayMs });
      if (noRoom) log.warn(`After the reschedule to "${config.cron.text}": ${noRoom}`);
      if (dropped?.prepared) slots.release(dropped.slot, 'missed');
    },
    onReleased: (slot, now) => {
      log.warn(`Wall clock went back to ${new Date(now).toISOString()} after slot ${new Date(slot).toISOString()} was prepared: released unsent, the slot is passed over`);
      slots.release(slot, 'clock_back');
    },
  });

  const inFlight = slots.stop();
  log.info(`Stopping: no new cycles; ${inFlight.length} in flight`);
  d.notifier.notify('stopping', `stopping (${inFlight.length} cycle(s) in flight)`);
  await drain(inFlight, clock, config.shutdownGraceMs, slots.abortAll, log);
  d.client.close?.(); // the kept-alive connections to Diego
  log.info('Stopped');
  return 0;
}
