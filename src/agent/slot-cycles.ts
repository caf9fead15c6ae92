import type { Config } from '../config.ts';
import { pauseCovers, type Pause } from '../control/state.ts';
import { ownerOf, type SkipReason, type Trigger } from '../records.ts';
import type { AgentDeps } from './deps.ts';
import { CUT_BY_PAUSE, runCycle, type CycleDeps, type CycleJob, type Gate } from './cycle.ts';
import { outlivesSlot } from './policies.ts';
import type { Upkeep } from './upkeep/upkeep.ts';
import type { Job, Jobs } from './jobs.ts';

/** A cycle not yet closed, with its job and deadline for the overlap guard and the cut. */
interface InFlight {
  job: Job;
  deadline: number;
  cut: AbortController;
  interrupt: AbortController;
  done: Promise<unknown>;
}

/**
 * The cycles the agent runs: starts them, keeps those in flight (for the overlap policy, the deadline cut, a
 * `pause --abort` and the stop), and records the slots that do not fire as `skipped` cycles with their reason.
 */
export function createCycles(d: AgentDeps, upkeep: Upkeep, config: Config, jobs: Jobs) {
  const { clock, log } = d;
  const running = new Set<InFlight>();
  // Called only when the shutdown grace runs out: in-flight attempts become `aborted`, their cycles `interrupted`.
  // It reaches each cycle through `running`: no listener per cycle on a signal that outlives the cycles (11 of them
  // in flight at once made Node warn of a leak, and a listener left behind would hold its cycle in memory).
  const abortAll = { abort: () => running.forEach((r) => r.interrupt.abort()) };
  const cycleDeps: CycleDeps = {
    clock,
    client: d.client,
    store: d.store,
    log,
    retry: { attempts: config.retryAttempts, delayMs: config.retryDelayMs },
    timeframe: '', // each cycle's own: its job's (start)
    triggerExecution: config.triggerExecution,
    diegoTimeoutMs: config.diegoTimeoutMs,
    owner: ownerOf(d.identity),
    newId: d.newId,
    label: '',
    onStarted: () => d.notifier.cycleStarted(),
  };
  return {
    abortAll,
    /** Starts a cycle of `job.job`; `release` given, it is prepared ahead and waits for its slot. */
    start({ job: of, ...job }: Omit<CycleJob, 'cut' | 'symbol'> & { job: Job }, release?: Gate) {
      const { symbol } = of;
      const cut = new AbortController();
      // The cycle's own abort: at the end of the shutdown grace, or (reason CUT_BY_PAUSE) by a `pause --abort` that
      // covers its symbol.
      const interrupt = new AbortController();
      const entry: InFlight = { job: of, deadline: job.deadline, cut, interrupt, done: Promise.resolve() };
      entry.done = runCycle({ ...job, symbol, cut: cut.signal }, { ...cycleDeps, timeframe: of.timeframe, label: jobs.labelOf(of) }, interrupt.signal, release)
        .then((result) => upkeep.cycleEnded(result))
        .catch((err) => log.error(`Cycle for ${jobs.nameOf(of)} at ${new Date(job.slot).toISOString()} crashed`, { symbol }, err))
        .finally(() => running.delete(entry));
      running.add(entry);
    },
    /** Overlap policy: a cycle of `job` would still run after `slot`. */
    busyPast: (job: Job, slot: number) => outlivesSlot([...running].map((r) => ({ symbol: r.job.key, deadline: r.deadline })), job.key, slot),
    /** The deadline policy, enforced on the boundary: every cycle whose deadline is this slot (or earlier) ends now. */
    cutDue(slot: number) {
      for (const r of running) if (r.deadline <= slot) r.cut.abort();
    },
    /** A new `pause --abort` cuts the cycles in flight it covers (recorded `interrupted`, reason `paused`). */
    cutPaused(pause: Pause) {
      for (const r of running) if (pauseCovers(pause, r.job.symbol, r.job.timeframe)) r.interrupt.abort(CUT_BY_PAUSE);
    },
    /** Records a slot that does not fire as a `skipped` cycle with its reason (so nothing is missing unexplained). */
    recordSkip({ symbol, timeframe }: Job, trigger: Trigger, slot: number, until: number, reason: SkipReason, error: string) {
      const skipped = d.store.recordSkipped(
        { symbol, timeframe, trigger, scheduledAt: slot, deadlineAt: until, startedAt: clock.now(), idempotencyKey: d.newId(), owner: cycleDeps.owner },
        reason,
        error,
      );
      skipped.then((recorded) => recorded && upkeep.slotSkipped(reason, { symbol, timeframe }), (err) => log.error(`Could not record skipped slot for ${symbol}`, {}, err));
    },
    /** The cycles still in flight, to drain. */
    inFlight: (): Promise<unknown>[] => [...running].map((r) => r.done),
  };
}
