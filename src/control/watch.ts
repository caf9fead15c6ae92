import type { Kysely } from 'kysely';
import { applyControl } from './apply.ts';
import { readControlState, recordApplied, takeTrigger, versionReader, type AppliedAction } from './control-store.ts';
import { beginPause } from './guard-store.ts';
import { begunPauses, CONTROL_POLL_MS, CONTROL_PUSHED_POLL_MS, describePause, pollDelay, endedPauses, NO_CONTROL, patternSource, pauseWhat, symbolLabel, takeableAt, type ControlState, type Pause, type TriggerRequest } from './state.ts';
import { parseCronPattern, type CronPattern } from '../time/cron-pattern.ts';
import type { Logger } from '../log/logger.ts';
import type { Schema } from '../store/schema.ts';
import type { Clock } from '../time/clock.ts';
import { spell } from '../log/spell.ts';
import { wakeable } from '../time/every.ts';
import type { Database } from '../store/port.ts';

/** The live control state as this agent knows it. */
export interface ControlWatch {
  /** The state as of the last poll: what a slot asks, from memory, never waiting on the database. */
  readonly state: ControlState;
  /**
   * The pattern in force: `reschedule`'s, else CRON_PATTERN. Asked like any pattern; it answers with the one in
   * force at the time of the question, so the schedule follows a change from the next slot it computes.
   */
  readonly cron: CronPattern;
  /**
   * Attaches the agent's hands, once it fires cycles (an idle agent, or one still waiting for Diego, takes no
   * request), and detaches them when it stops: from then on run-now requests are taken, and pauses with `--abort`
   * cut the cycles in flight.
   */
  attach(hands: AgentHands | undefined): void;
  /** Hears each change of the pattern in force (the scheduler's wait is cut short); returns the unsubscribe. */
  patternChanges(listener: () => void): () => void;
  /**
   * A slot's last look (issue 22): reads the version now, outside the polls' rhythm, and the state if it changed, so
   * a change committed up to LAST_LOOK_MS before a slot reaches it. Never rejects: a failed read keeps the last state.
   */
  refresh(): Promise<void>;
}

/** What the watcher asks of the agent. */
export interface AgentHands {
  /** Fire a run-now request this agent took, at `slot` (the time it was taken), with the pauses read with the take. */
  fire(request: TriggerRequest, slot: number, pauses?: readonly Pause[]): void;
  /** Cut the cycles in flight that a new `pause --abort` covers. */
  cut(pause: Pause): void;
}

/** What the watcher needs. */
export interface ControlWatchDeps {
  db: Kysely<Schema>;
  owner: string;
  /** CRON_PATTERN: the pattern in force when no `reschedule` is. */
  environment: CronPattern;
  clock: Clock;
  log: Logger;
  stop: AbortSignal;
  /** Hears each new state. */
  changed: (state: ControlState) => void;
  tell?: (notice: ControlNotice) => void;
  /** The backend's push of changes (PostgreSQL); absent: polls alone. */
  changes?: Database['controlChanges'];
}

/**
 * Loads the control state once (a new agent starts in the state the database holds), then reads its version every
 * CONTROL_POLL_MS (CONTROL_PUSHED_POLL_MS while the backend pushes changes, and at once on each push) and reloads it
 * on a change: logs what changed, records when this agent applied each action, and ends the timed pauses whose end
 * has come (one agent audits each end); `changed` hears each new state. A database that cannot be read leaves the
 * last known state in force, and says so once per failing spell.
 */
export async function watchControl(d: ControlWatchDeps): Promise<{ watch: ControlWatch; loop: Promise<void> }> {
  const { db, owner, environment, clock, log, stop, changed, tell } = d;
  let state = NO_CONTROL;
  let cron = environment;
  let loaded = false;
  let hands: AgentHands | undefined;
  const patternListeners = new Set<() => void>();
  // Requests this agent is done with (taken by it or another, or expired): never tried again.
  const settled = new Set<number>();
  const readVersion = versionReader(db);
  const health = spell(log, (why) => `Could not read the control state (${why}); the last one known stays in force`, 'Control state read again');
  // Reads the version and, on a change, the new state. Runs one at a time (a poll and a slot's last look), each
  // after the one before, so a look asked after a commit reads after it too.
  const load = async () => {
    if (loaded && (await readVersion()) === state.version) return;
    const next = await readControlState(db, readVersion);
    if (loaded) announce(state, next, log, hands, tell);
    else for (const p of next.pauses) log.warn(`Starting ${describePause(p)}`);
    if (!loaded || next.schedule?.pattern !== state.schedule?.pattern) {
      cron = patternInForce(next, environment, log);
      // The version names the change for every replica alike: one notification whichever replica tells it.
      if (loaded) tell?.({ event: 'rescheduled', headline: `pattern in force: ${cron.text} (${patternSource(next.schedule)})`, key: `rescheduled:${next.version}` });
    }
    if (loaded) unseen(state, next, await recordApplied(db, owner, state.version, next.version, clock.now()), log);
    const switched = loaded && (next.schedule?.pattern !== state.schedule?.pattern || jobPatternsMoved(state, next, log));
    state = next;
    loaded = true;
    changed(state);
    if (switched) for (const l of patternListeners) l();
  };
  let chain: Promise<unknown> = Promise.resolve();
  const reload = (): Promise<void> => {
    const run = chain.then(load);
    chain = run.catch(() => undefined);
    return run;
  };
  const poll = async () => {
    // Not beside a slot: the poll's query and its callbacks would share the thread with the slot's last stretch. (The
    // first load comes before any slot is armed; each slot's own last look is `refresh`.)
    const wait = loaded ? pollDelay(cron, clock.now()) : 0;
    if (wait > 0) await clock.sleep(wait, stop);
    if (stop.aborted) return;
    try {
      await reload();
      for (const p of endedPauses(state, clock.now())) {
        const ended = { kind: 'pause_ended', pause: p, by: `agent ${owner}`, reason: p.reason, args: { until: new Date(p.until ?? clock.now()).toISOString(), pause: p.auditId } } as const;
        await applyControl(db, ended, () => clock.now());
      }
      // A window planned ahead (`pause --from`) holds from its `since` by itself; its start is audited here, once.
      for (const p of begunPauses(state, clock.now())) if (await beginPause(db, p, owner, clock.now())) log.warn(`Control: planned window began: ${describePause(p)}`);
      for (const r of state.triggers) {
        const now = clock.now();
        if (settled.has(r.id) || (hands === undefined && takeableAt(r, now))) continue;
        if (!takeableAt(r, now)) {
          const expired = { kind: 'trigger_expired', request: r, by: `agent ${owner}`, reason: r.reason ?? undefined, args: { request: r.id, expiresAt: new Date(r.expiresAt).toISOString() } } as const;
          if ((await applyControl(db, expired, () => clock.now())).outcome === 'applied') log.warn(`Run-now request #${r.id} by ${r.by} expired: no agent took it by ${new Date(r.expiresAt).toISOString()}; not fired`);
        } else {
          const take = hands!;
          const pauses = await takeTrigger(db, r.id, owner, now);
          if (pauses) take.fire(r, now, pauses);
        }
        settled.add(r.id);
      }
      health.ok();
    } catch (err) {
      health.failed(err);
    }
  };
  await poll();
  const pushes = spell(log, (why) => `Control changes are no longer pushed by the database (${why}); polling every ${CONTROL_POLL_MS} ms until they are`, 'Control changes pushed by the database again');
  const feed = d.changes?.({ changed: () => loop.wake(), up: () => pushes.ok(), down: (err) => pushes.failed(err) }, clock);
  const loop = wakeable(clock, stop, () => (feed?.live ? CONTROL_PUSHED_POLL_MS : CONTROL_POLL_MS), poll);
  return {
    watch: {
      get state() {
        return state;
      },
      cron: {
        get text() {
          return cron.text;
        },
        next: (after) => cron.next(after),
        latest: (at) => cron.latest(at),
      },
      attach(h) {
        hands = h;
      },
      patternChanges(listener) {
        patternListeners.add(listener);
        return () => patternListeners.delete(listener);
      },
      refresh: () =>
        reload().then(
          () => health.ok(),
          (err) => health.failed(err),
        ),
    },
    loop: loop.done.finally(() => feed?.close()),
  };
}

/** The patterns a state sets for some jobs, as one comparable text. */
const jobPatternsKey = (state: ControlState): string => JSON.stringify((state.jobSchedules ?? []).map((j) => [j.target, j.pattern]));

/** Whether the patterns set for some jobs changed from `was` to `state` (logged when they did). */
function jobPatternsMoved(was: ControlState, state: ControlState, log: Logger): boolean {
  if (jobPatternsKey(was) === jobPatternsKey(state)) return false;
  const set = state.jobSchedules ?? [];
  for (const j of set) log.warn(`Pattern in force for ${symbolLabel(j.target)}: ${j.pattern} (reschedule by ${j.by} at ${new Date(j.since).toISOString()}: ${j.reason})`);
  if (set.length === 0) log.info('No pattern set for some jobs by reschedule: each follows the pattern in force');
  return true;
}

/** The pattern a state puts in force, logged with where it comes from. */
function patternInForce(state: ControlState, environment: CronPattern, log: Logger): CronPattern {
  if (state.schedule === null) {
    log.info(`Pattern in force: ${environment.text} (${patternSource(null)})`);
    return environment;
  }
  const parsed = parseCronPattern(state.schedule.pattern);
  // Checked when it was set, as CRON_PATTERN is; only an agent of another version could read it otherwise.
  if ('error' in parsed) {
    log.error(`Pattern ${JSON.stringify(state.schedule.pattern)} set by reschedule is not valid here (${parsed.error}); keeping CRON_PATTERN ${environment.text}`);
    return environment;
  }
  log.warn(`Pattern in force: ${parsed.pattern.text} (${patternSource(state.schedule)}; CRON_PATTERN ${environment.text} set aside)`);
  return parsed.pattern;
}

/**
 * The pauses that began and ended between two reads of this agent (a pause shorter than the agent's delay in
 * applying changes): never in force here, which its log says rather than nothing. Every other change shows in the
 * difference between the two states (announce).
 */
function unseen(before: ControlState, after: ControlState, actions: readonly AppliedAction[], log: Logger): void {
  const known = new Set([...before.pauses, ...after.pauses].map((p) => p.auditId));
  for (const a of actions) {
    if (a.action !== 'pause' || known.has(a.id)) continue;
    log.warn(`Control: ${pauseWhat(a.scope)} (${symbolLabel(a.symbol)}) by ${a.by} at ${new Date(a.at).toISOString()}${a.reason ? `: ${a.reason}` : ''}; it ended before this agent read it, so it was never in force here`);
  }
}

/** A control change worth telling a person (the notifications of issue #13); `key` is the same on every replica. */
export interface ControlNotice {
  event: 'paused' | 'resumed' | 'rescheduled' | 'guard';
  headline: string;
  key: string;
  /** A guard's: critical when it turns execution off, info when its pause is lifted. */
  severity?: 'critical' | 'info';
}

/**
 * Logs (and tells) the pauses that began and ended between two states; a new `pause --abort` cuts the cycles it
 * covers. A pause is named by its audit id, so every replica tells the same change under the same key.
 */
function announce(before: ControlState, after: ControlState, log: Logger, hands: AgentHands | undefined, tell?: (n: ControlNotice) => void): void {
  const ids = (s: ControlState) => new Set(s.pauses.map((p) => p.auditId));
  const [was, is] = [ids(before), ids(after)];
  for (const p of before.pauses) {
    if (is.has(p.auditId)) continue;
    const line = `${p.scope === 'execution' ? 'execution back on' : 'resumed'} (${symbolLabel(p.symbol)}); was ${describePause(p)}`;
    log.info(`Control: ${line}`);
    tell?.({ event: p.guard ? 'guard' : 'resumed', headline: line, key: `resumed:${p.auditId}`, ...(p.guard ? { severity: 'info' as const } : {}) });
  }
  for (const p of after.pauses) {
    if (was.has(p.auditId)) continue;
    log.warn(`Control: ${describePause(p)}`);
    // A guard's pause is its own event (critical): execution went off by itself, a person must look.
    tell?.({ event: p.guard ? 'guard' : 'paused', headline: describePause(p), key: `paused:${p.auditId}`, ...(p.guard ? { severity: 'critical' as const } : {}) });
    if (p.abort && p.scope === 'cycles') hands?.cut(p);
  }
}
