import { errorLine } from '../../log/error-line.ts';
import type { Logger } from '../../log/logger.ts';
import type { Notifier } from '../../notify/notifier.ts';
import { ownerOf, type AgentIdentity, type SkipReason } from '../../records.ts';
import type { FiringHold } from '../../store/history/agent-registry.ts';
import type { Database } from '../../store/port.ts';
import type { Clock } from '../../time/clock.ts';
import type { CronPattern } from '../../time/cron-pattern.ts';
import { VERSION } from '../../version.ts';
import type { CycleResult } from '../cycle.ts';
import { subscriptions, type AgentEvents } from '../events.ts';
import { startClockCheck, type ClockCheckSettings, type ClockHealth, type ExtraSource } from './clock-check.ts';
import { createExchangeClock, type ExchangeClock, type ExchangeClockSettings } from './exchange-clock.ts';
import { PAUSE_SCOPES, pauseCovers, pauseOf, pausesAt } from '../../control/state.ts';
import { GUARDS } from '../../control/guard-store.ts';
import { watchControl, type ControlWatch } from '../../control/watch.ts';
import { startHeartbeat } from './heartbeat.ts';
import { watchExchange, type ExchangeWatchSettings } from './exchange-watch.ts';
import { startCycleGuards, type CycleGuardSettings } from './guards.ts';
import { keepLeases } from './leases.ts';
import { startMetrics } from './metrics.ts';
import { summariseMissed } from './missed-summary.ts';
import { keepRetention } from './retention.ts';
import { logStats } from './stats-summary.ts';
import type { Notify } from './systemd-notify.ts';

/** The slice of the configuration the chores use. */
export interface UpkeepSettings {
  cron: CronPattern;
  symbols: string[];
  /** 0 keeps everything. */
  historyRetentionDays: number;
  metricsFile: string | undefined;
  /** 0: no stats summary. */
  statsIntervalMs: number;
  /** ENABLE_SCHEDULER: false records the agent as `disabled` (status, trigger); absent: true. */
  enableScheduler?: boolean;
  /** Undefined: neither NTP_SERVER nor EXCHANGE_TIME_URL, no clock check. */
  clockCheck: ClockCheckSettings | undefined;
  /** EXCHANGE_TIME_URL and its settings; undefined: the exchange's clock is not read. */
  exchangeClock?: ExchangeClockSettings;
  /** The guard rails that look at ended cycles (docs/guards.md); absent: none. */
  guards?: CycleGuardSettings;
  /** EXCHANGE_STATUS_URL and its settings; undefined: the exchange is not watched. */
  exchange?: ExchangeWatchSettings;
}

/** What the chores need from the agent. */
export interface UpkeepDeps {
  database: Database;
  settings: UpkeepSettings;
  clock: Clock;
  log: Logger;
  identity: AgentIdentity;
  notifier: Notifier;
  /** The agent's event stream: the chores emit into it, and the metrics, summaries and notifications listen. */
  events: AgentEvents;
  /** Under systemd (`Type=notify`): READY=1, WATCHDOG=1 with every heartbeat, STOPPING=1. */
  systemd?: Notify;
  /** Told after each heartbeat which other live agents share the database (PeerWatch.seen). */
  onPeers?: (owners: readonly string[]) => void;
  /** Whether a process of this host runs: an agent row of this host whose pid is gone is no peer. */
  isAlive?: (pid: number) => boolean;
}

/**
 * The agent's background chores: heartbeat, live control, cycle leases, retention, the metrics file, the stats
 * summary, the clock, alerts.
 */
export interface Upkeep {
  /** The live control state (pauses), kept in memory by its watcher. */
  control: ControlWatch;
  /** After a cycle ended: emits `cycle:ended` when this agent ran it (never awaited by the cycle). */
  cycleEnded(result: CycleResult): void;
  /** After a slot was recorded as skipped, with the reason recorded: emits `slot:skipped`. */
  slotSkipped(reason: SkipReason, job?: { symbol: string; timeframe: string }): void;
  /** The clock's health (NTP_SERVER or EXCHANGE_TIME_URL set): the agent fires nothing while it is `blocked`. */
  readonly clock: ClockHealth | undefined;
  /** The exchange's clock (EXCHANGE_TIME_URL set): its offset, and what the fire clock adds with FIRE_CLOCK=exchange. */
  readonly exchangeClock: ExchangeClock | undefined;
  /** The readiness wait is over (or there was none): recorded with a heartbeat at once, for `healthcheck`. */
  /** Resolves once the mark was tried (written, or left to the next beat). */
  ready(): Promise<void>;
  /** The clock went back: nothing fires before `hold.until`; undefined: firing again. For `healthcheck`, `status`. */
  holdFiring(hold: FiringHold | undefined): void;
  /** Ends the loops, waits for the last metrics write and marks the agent stopped (a clean stop). */
  close(): Promise<void>;
}

/**
 * Registers the agent's heartbeat row and starts its chores. None of them ever holds up a cycle: they run on their
 * own timers, retention deletes in small batches with pauses, and metrics are written after a cycle has ended.
 */
export async function startUpkeep(d: UpkeepDeps): Promise<Upkeep> {
  const { database, settings, clock, notifier } = d;
  const events = subscriptions(d.events);
  const { db } = database;
  const log = d.log.child('UPKEEP');
  const ended = new AbortController();
  const stop = ended.signal;
  const startedAt = clock.now();
  const owner = ownerOf(d.identity);
  const record = { owner, host: d.identity.host, pid: d.identity.pid, version: VERSION, cronPattern: settings.cron.text, symbols: settings.symbols, startedAt, notFiring: settings.enableScheduler === false ? 'disabled' : undefined };
  const metrics = settings.metricsFile === undefined ? undefined : await startMetrics(db, settings.metricsFile, startedAt, log);
  // Subscribed before the chore that emits starts, so no event goes unheard.
  subscribeMetrics(events, metrics, settings.symbols, clock);
  const heartbeat = await startHeartbeat(db, record, clock, log, stop, { onBeat: (at) => d.events.emit('agent:beat', { at }), systemd: d.systemd, checkFile: d.database.traits.checkFile, onPeers: d.onPeers, isAlive: d.isAlive });
  const missed = summariseMissed(notifier, clock, stop);
  events.on('clock:skew', (k) => {
    // `status` and `trigger` read it: an agent whose clock holds its slots takes no run-now request either.
    const why = k.blocking ? `clock offset ${Math.round(k.offsetMs)} ms above CLOCK_SKEW_MAX_MS` : null;
    heartbeat.registration?.notFiring(why).catch((err) => log.debug(`Could not record why the agent does not fire: ${errorLine(err)}`));
  });
  const exchangeRow = (e: Parameters<NonNullable<typeof heartbeat.registration>['exchangeClock']>[0]) => heartbeat.registration?.exchangeClock(e).catch((err) => log.debug(`Could not record the exchange's clock: ${errorLine(err)}`));
  events.on('clock:exchange', (e) => void exchangeRow({ at: e.at, offsetMs: e.offsetMs, rttMs: e.rttMs, fireClock: e.firing ? 'exchange' : 'local' }));
  events.on('clock:fire', ({ firing }) => void exchangeRow({ fireClock: firing ? 'exchange' : 'fallback' }));
  events.on('clock:measured', (m) => {
    heartbeat.registration?.clockChecked(m.at, m.offsetMs, m.rttMs).catch((err) => log.debug(`Could not record the clock check: ${errorLine(err)}`));
  });
  subscribeNotifications(events, notifier, missed);
  const exchangeClock = settings.exchangeClock && createExchangeClock(settings.exchangeClock, {
    clock,
    log: d.log.child('CLOCK'),
    stop,
    events: {
      read: (r) => d.events.emit('clock:exchange', { offsetMs: r.offsetMs, rttMs: r.rttMs, at: r.at, firing: r.firing }),
      fireClock: (change, line) => {
        d.events.emit('clock:fire', { firing: change === 'back' });
        notifier.notify('clock_skew', line, { severity: change === 'fallback' ? 'warning' : 'info', details: { fireClock: change === 'fallback' ? 'local' : 'exchange' } });
      },
    },
  });
  const clockCheck = settings.clockCheck && startClockCheckFor(settings.clockCheck, d, stop, {
    measured: (m) => d.events.emit('clock:measured', m),
    skew: (k) => d.events.emit('clock:skew', k),
  }, exchangeClock?.source);
  // Under the agent's own component: the pattern in force and the control changes are the scheduler's business.
  const control = await watchControl({
    db,
    owner,
    environment: settings.cron,
    clock,
    log: d.log,
    stop,
    changed: (state) => d.events.emit('control:changed', { state }),
    tell: (n) => d.events.emit('control:notice', n),
    changes: database.controlChanges?.bind(database),
  });
  const guards = settings.guards && startCycleGuards({ db, settings: settings.guards, cron: control.watch.cron, clock, log: d.log.child('GUARD'), stop });
  const exchange = settings.exchange && watchExchange({ db, settings: settings.exchange, cron: control.watch.cron, clock, log: d.log.child('GUARD'), stop });
  if (guards) events.on('cycle:ended', ({ ended }) => guards.cycleEnded(ended));
  const loops = [
    control.loop,
    exchange,
    keepLeases(db, owner, clock, log, stop),
    missed.done,
    clockCheck?.done,
    settings.historyRetentionDays > 0 ? keepRetention(db, settings.historyRetentionDays, clock, log, stop) : undefined,
    settings.statsIntervalMs > 0 ? logStats(db, { intervalMs: settings.statsIntervalMs, cron: control.watch.cron, symbols: settings.symbols, startedAt }, clock, d.log.child('STATS'), stop) : undefined,
  ];
  return {
    control: control.watch,
    cycleEnded(result) {
      if (result.ended) d.events.emit('cycle:ended', { ended: result.ended });
    },
    slotSkipped: (reason, job) => d.events.emit('slot:skipped', { reason, job }),
    clock: clockCheck?.health,
    exchangeClock,
    ready: () => heartbeat.ready(),
    holdFiring: (hold) => heartbeat.hold(hold),
    async close() {
      // Said first, awaited last: the process exits right after, and the message must be out by then.
      const stopping = d.systemd?.('STOPPING=1');
      ended.abort();
      await Promise.all(loops);
      await guards?.idle();
      await metrics?.idle();
      events.end();
      await heartbeat.close();
      await stopping;
    },
  };
}

/** The metrics file (METRICS_FILE) hears heartbeats, cycles, skipped slots, clock checks and pauses. */
function subscribeMetrics(events: Pick<AgentEvents, 'on'>, metrics: Awaited<ReturnType<typeof startMetrics>> | undefined, symbols: readonly string[], clock: Clock): void {
  if (metrics === undefined) return;
  events.on('agent:beat', ({ at }) => metrics.beat(at));
  events.on('cycle:ended', ({ ended }) => metrics.cycleEnded(ended));
  events.on('slot:skipped', ({ reason, job }) => metrics.slotSkipped(reason, job));
  events.on('clock:measured', (m) => metrics.clockChecked(m.offsetMs, m.rttMs));
  events.on('clock:exchange', (e) => metrics.exchangeClock(e));
  events.on('clock:fire', ({ firing }) => metrics.exchangeClock({ firing }));
  events.on('control:changed', ({ state }) =>
    metrics.paused(
      symbols.flatMap((symbol) => PAUSE_SCOPES.map((scope) => ({ symbol, scope, on: pauseOf(state, symbol, scope, clock.now()) !== undefined }))),
      symbols.flatMap((symbol) => GUARDS.map((guard) => ({ symbol, guard, on: pausesAt(state, clock.now()).some((p) => p.guard === guard && pauseCovers(p, symbol)) }))),
    ),
  );
}

/** What a person hears: the missed-slot summary, the Healthchecks ping of each cycle, clock skew, control changes. */
function subscribeNotifications(events: Pick<AgentEvents, 'on'>, notifier: Notifier, missed: ReturnType<typeof summariseMissed>): void {
  events.on('cycle:ended', ({ ended }) => {
    missed.count(ended.reason); // it counts only the reasons of a slot not run as it should
    if (ended.status !== 'skipped') notifier.cycleEnded(ended.status === 'succeeded', `${ended.status}${ended.reason ? ` (${ended.reason})` : ''}`);
  });
  events.on('slot:skipped', ({ reason }) => missed.count(reason));
  events.on('clock:skew', (k) => {
    if (k.skewed) notifier.notify('clock_skew', `clock offset ${Math.round(k.offsetMs)} ms${k.blocking ? ': no slot fires until it is back' : ''}`, { severity: k.blocking ? 'critical' : 'warning', details: { offsetMs: Math.round(k.offsetMs), blocking: k.blocking } });
    else notifier.notify('clock_skew', `clock back in sync (offset ${Math.round(k.offsetMs)} ms)`, { severity: 'info', details: { offsetMs: Math.round(k.offsetMs), blocking: false } });
  });
  events.on('control:notice', (n) => notifier.notify(n.event, n.headline, { dedupeKey: n.key, ...(n.severity ? { severity: n.severity } : {}) }));
}

/** The clock check, measuring against the database server's clock too where it has its own (PostgreSQL). */
function startClockCheckFor(s: ClockCheckSettings, d: UpkeepDeps, stop: AbortSignal, events: Parameters<typeof startClockCheck>[1]['events'], exchange?: ExtraSource) {
  const { database, clock } = d;
  const serverTime = database.traits.serverTime;
  const extra: ExtraSource[] = exchange ? [exchange] : [];
  if (serverTime)
    extra.push({
      name: 'the database server',
      async measure() {
        const sent = clock.now();
        const server = await serverTime(database.db);
        const back = clock.now();
        return { offsetMs: server - (sent + back) / 2, rttMs: back - sent };
      },
    });
  return startClockCheck(s, { clock, log: d.log.child('CLOCK'), stop, events, extra });
}
