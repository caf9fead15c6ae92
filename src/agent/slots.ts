import { ALL_SYMBOLS, pauseCovers, pauseNote, pauseOf } from '../control/state.ts';
import type { Config } from '../config.ts';
import { ownerOf, type Trigger } from '../records.ts';
import type { AgentDeps } from './deps.ts';
import { CUT_BY_PAUSE, runCycle, type CycleDeps, type CycleJob, type Release } from './cycle.ts';
import { outlivesSlot } from './policies.ts';
import type { Upkeep } from './upkeep/upkeep.ts';

/**
 * What the agent does at its slots: prepares each slot's cycles ahead (claim and first attempt row), fires them on
 * the boundary, or records why a slot does not fire (paused, overlap, clock skew), and keeps the cycles in flight
 * for the deadline cut and the stop. The live control's run-now requests and `pause --abort` act through it.
 */
export function createSlots(d: AgentDeps, upkeep: Upkeep, config: Config) {
  const { clock, log } = d;
  // Aborted only when the shutdown grace runs out: in-flight attempts become `aborted`, their cycles `interrupted`.
  const abortCycles = new AbortController();
  // Every cycle not yet closed (drained at stop), with its symbol and deadline for the overlap guard and the cut.
  const running = new Set<{ symbol: string; deadline: number; cut: AbortController; interrupt: AbortController; done: Promise<unknown> }>();
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
    onStarted: () => d.notifier.cycleStarted(),
  };

  const start = (job: Omit<CycleJob, 'cut'>, release?: Promise<Release>) => {
    const { symbol } = job;
    const label = config.symbols.length > 1 ? ` (${symbol})` : '';
    const cut = new AbortController();
    // The cycle's own abort: at the end of the shutdown grace, or (reason CUT_BY_PAUSE) by a `pause --abort` that
    // covers its symbol. A listener, removed when the cycle ends, rather than AbortSignal.any for each cycle.
    const interrupt = new AbortController();
    const onStop = () => interrupt.abort();
    abortCycles.signal.addEventListener('abort', onStop, { once: true });
    const entry = { symbol, deadline: job.deadline, cut, interrupt, done: Promise.resolve() as Promise<unknown> };
    entry.done = runCycle({ ...job, cut: cut.signal }, { ...cycleDeps, label }, interrupt.signal, release)
      .then((result) => upkeep.cycleEnded(result))
      .catch((err) => log.error(`Cycle for ${symbol} at ${new Date(job.slot).toISOString()} crashed`, { symbol }, err))
      .finally(() => {
        abortCycles.signal.removeEventListener('abort', onStop);
        running.delete(entry);
      });
    running.add(entry);
  };
  const busyPast = (symbol: string, slot: number) => outlivesSlot(running, symbol, slot);
  // Live control (src/control/): the pauses in force, from the watcher's copy in memory (no database read here).
  const pausedAt = (symbol: string, slot: number) => pauseOf(upkeep.control.state, symbol, 'cycles', slot);
  const executionOffAt = (symbol: string, slot: number) => {
    const off = pauseOf(upkeep.control.state, symbol, 'execution', slot);
    return off && pauseNote(off);
  };
  /** Records a slot that does not fire as a `skipped` cycle with its reason (so nothing is missing unexplained). */
  const recordSkip = (symbol: string, trigger: Trigger, slot: number, until: number, reason: string, error: string) => {
    const skipped = d.store.recordSkipped(
      { symbol, timeframe: config.timeframe, trigger, scheduledAt: slot, deadlineAt: until, startedAt: clock.now(), idempotencyKey: d.newId(), owner: cycleDeps.owner },
      reason,
      error,
    );
    skipped.then((recorded) => recorded && upkeep.slotSkipped(reason), (err) => log.error(`Could not record skipped slot for ${symbol}`, {}, err));
  };

  // PREPARE_LEAD_MS before a slot: claim it and write the first attempt's row now, so at the boundary only the
  // request is left to send. A symbol whose previous cycle would outlive the slot is decided at the slot.
  const prepare = (slot: number) => {
    if (upkeep.clock?.blocked) return; // decided at the slot: recorded skipped (clock_skew)
    let deadline: number | undefined; // the same next slot for every symbol: computed once, if any is prepared
    for (const symbol of config.symbols) {
      if (busyPast(symbol, slot) || pausedAt(symbol, slot)) continue;
      let release!: (r: Release) => void;
      const gate = new Promise<Release>((resolve) => (release = resolve));
      prepared.set(symbol, { slot, release });
      deadline ??= config.cron.next(slot);
      start({ symbol, trigger: 'schedule', slot, deadline, executionOff: executionOffAt(symbol, slot) }, gate);
    }
  };

  // `deadline` defaults to the next slot, computed only after the prepared cycles are released.
  const fire = (slot: number, trigger: Trigger, deadline?: number) => {
    const fresh: string[] = [];
    for (const symbol of config.symbols) {
      const ready = prepared.get(symbol);
      prepared.delete(symbol);
      if (ready?.slot === slot) ready.release(pausedAt(symbol, slot) ? 'paused' : 'fire');
      else {
        // Prepared for a slot that was passed over (a late wake-up): it closes as skipped; this slot runs fresh.
        ready?.release('missed');
        fresh.push(symbol);
      }
    }
    // The deadline policy, enforced on the boundary: every cycle whose deadline is this slot (or earlier) ends now.
    for (const r of running) if (r.deadline <= slot) r.cut.abort();
    if (fresh.length > 0) launch(fresh, slot, trigger, deadline ?? config.cron.next(slot));
  };

  // Starts a cycle per symbol at `slot`, unless a pause or the overlap policy skips it (recorded either way).
  const launch = (symbols: readonly string[], slot: number, trigger: Trigger, until: number) => {
    for (const symbol of symbols) {
      const paused = pausedAt(symbol, slot);
      if (paused) {
        // A paused slot is still a row (`skipped`, reason `paused`): nothing is ever missing unexplained.
        log.debug(`Slot ${new Date(slot).toISOString()} skipped for ${symbol}: ${pauseNote(paused)}`);
        recordSkip(symbol, trigger, slot, until, 'paused', pauseNote(paused));
        continue;
      }
      if (busyPast(symbol, slot)) {
        // Overlap policy: skip. Cycles end at their deadline, the next slot; this is the safety net.
        log.warn(`Previous cycle for ${symbol} still running at slot ${new Date(slot).toISOString()}: slot skipped (overlap)`);
        recordSkip(symbol, trigger, slot, until, 'overlap', 'previous cycle still running');
        continue;
      }
      if (upkeep.clock?.blocked) {
        recordSkip(symbol, trigger, slot, until, 'clock_skew', `clock offset ${Math.round(upkeep.clock.last?.offsetMs ?? 0)} ms is above CLOCK_SKEW_MAX_MS=${config.clockSkewMaxMs}`);
        continue;
      }
      start({ symbol, trigger, slot, deadline: until, executionOff: executionOffAt(symbol, slot) });
    }
  };

  // The control watcher's hands (src/control/watch.ts), attached while slots fire: a run-now request
  // this agent took fires at once (deadline the next slot, overlap rule and pauses as for a slot); a `pause --abort`
  // cuts the cycles in flight it covers, recorded `interrupted` (reason `paused`).
  upkeep.control.attach({
    fire: (request, slot) => {
      const symbols = request.symbol === ALL_SYMBOLS ? config.symbols : [request.symbol];
      const until = config.cron.next(slot);
      // Taken just as the agent began to stop: recorded, not fired.
      if (d.stop.aborted) for (const symbol of symbols) recordSkip(symbol, 'manual', slot, until, 'shutdown', `run-now request #${request.id} taken as the agent stopped`);
      else {
        log.info(`Run-now request #${request.id} by ${request.by}${request.reason ? ` (${request.reason})` : ''}: firing a manual cycle`);
        launch(symbols, slot, 'manual', until);
      }
    },
    cut: (pause) => {
      for (const r of running) if (pauseCovers(pause, r.symbol)) r.interrupt.abort(CUT_BY_PAUSE);
    },
  });


  return {
    prepare,
    fire,
    /** A prepared slot that will not fire after all (the wall clock went back past it): its cycles close unsent. */
    release(slot: number, how: Release) {
      for (const [symbol, ready] of prepared) {
        if (ready.slot !== slot) continue;
        prepared.delete(symbol);
        ready.release(how);
      }
    },
    /** Aborted when the shutdown grace runs out: in-flight attempts end `aborted`, their cycles `interrupted`. */
    abortAll: abortCycles,
    /**
     * No more slots: the control's hands are let go, and a slot prepared but not yet fired (a stop during its last
     * stretch, or its re-armed wait after a small clock step back) closes as interrupted, unsent. Returns the
     * cycles still in flight, to drain.
     */
    stop(): Promise<unknown>[] {
      upkeep.control.attach(undefined);
      for (const { release } of prepared.values()) release('shutdown');
      prepared.clear();
      return [...running].map((r) => r.done);
    },
  };
}
