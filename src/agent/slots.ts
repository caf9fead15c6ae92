import { targetCovers, type Pause, type TriggerRequest } from '../control/state.ts';
import { pausesInForce } from '../control/pauses-in-force.ts';
import type { Config } from '../config.ts';
import type { Trigger } from '../records.ts';
import type { AgentDeps } from './deps.ts';
import type { Gate, Release } from './cycle.ts';
import { createCycles } from './slot-cycles.ts';
import type { Job, Jobs } from './jobs.ts';
import type { SendCheck } from './send-check.ts';
import { decideSlot, executionOffOf, maxLatenessOf, NO_BLACKOUT, stricter, type ExecutionBlackout, type SlotDecision, type SlotFacts } from './slot-decision.ts';
import type { Upkeep } from './upkeep/upkeep.ts';

/**
 * What the agent does at its slots: prepares each slot's cycles ahead (claim and first attempt row), fires them on
 * the boundary, or records why a slot does not fire, and keeps the cycles in flight for the deadline cut and the
 * stop. The live control's run-now requests and `pause --abort` act through it. Whether a slot fires, and how, is
 * always the one slot decision (slot-decision.ts) over the facts gathered here.
 * `executionBlackout`: the recurring windows in which execution is off (EXECUTION_BLACKOUT, from the guards);
 * default none.
 */
export function createSlots(d: AgentDeps, upkeep: Upkeep, config: Config, jobs: Jobs, executionBlackout: ExecutionBlackout = NO_BLACKOUT) {
  const cycles = createCycles(d, upkeep, config, jobs);
  // Cycles claimed ahead of their slot (runSchedule's onPrepare), by job, each waiting for its release at the boundary.
  const prepared = new Map<string, { slot: number; release: (r: Release) => void; gate: Gate }>();
  // The jobs due at the slot prepared last, found ahead of its boundary.
  const dueAt = new Map<number, Job[]>();
  const decider = slotDecider(d, upkeep, config, executionBlackout);
  // Each prepared slot's last look at the control state (LAST_LOOK_MS before it), which its release waits for.
  const looks = new Map<number, Look>();

  // PREPARE_LEAD_MS before a slot: claim it and write the first attempt's row now, so at the boundary only the
  // request is left to send. A slot the decision skips now is decided again, and recorded, at the slot. Which jobs
  // the slot is theirs is date math, done here, ahead, and kept for the boundary.
  const prepare = (slot: number) => {
    const due = jobs.dueAt(slot);
    dueAt.clear();
    dueAt.set(slot, due);
    for (const job of due) {
      const decision = decider.fromCopy(job, slot, cycles.busyPast(job, slot));
      if (decision.kind === 'skip') continue;
      let release!: (r: Release) => void;
      const gate: Gate = new Promise<Release>((resolve) => (release = resolve));
      prepared.set(job.key, { slot, release, gate });
      const deadline = jobs.nextOf(job, slot);
      cycles.start({ job, trigger: 'schedule', slot, deadline, executionOff: executionOffOf(decision), check: decider.check(job, slot, 'schedule', deadline) }, gate);
    }
  };

  // Each job's deadline is its next slot, computed only after the prepared cycles are released. A prepared cycle
  // decides at its release, from the copy (its SendCheck): no database read at the boundary.
  const fire = (slot: number, trigger: Trigger) => {
    const fresh: Job[] = [];
    const look = looks.get(slot);
    looks.clear();
    // Prepared for a slot that was passed over (a late wake-up): it closes as skipped; this slot runs fresh.
    for (const [key, ready] of prepared) {
      if (ready.slot === slot) continue;
      prepared.delete(key);
      ready.release('missed');
    }
    const due = dueAt.get(slot);
    for (const job of due ?? []) {
      const ready = prepared.get(job.key);
      prepared.delete(job.key);
      // Read well before the boundary, the look is settled by now: the on-time request is written right here (the
      // gate's atBoundary), then the cycle goes on asynchronously. A database slow to answer holds the request until
      // it has (then it leaves late, and re-checks: send-check.ts).
      if (ready === undefined) fresh.push(job);
      else if (look && !look.settled) void look.done.then(() => ready.release('fire'));
      else {
        ready.gate.atBoundary?.(); // the on-time write, here and now
        ready.release('fire');
      }
    }
    cycles.cutDue(slot);
    if (due === undefined) fresh.push(...jobs.dueAt(slot)); // not prepared (no lead left): the date math now
    if (fresh.length > 0) launch(fresh, slot, trigger, undefined);
  };

  const launch = launcher(d, jobs, decider, cycles);

  attachHands(d, upkeep, jobs, launch, cycles.cutPaused);

  return {
    prepare,
    fire,
    /**
     * The startup cycle of every job (RUN_ON_START) at `now`; `oncePerInterval` (a database shared by replicas):
     * keyed by the job's newest slot instead, which all replicas compute the same, so it fires once among them.
     */
    startup(now: number, oncePerInterval: boolean) {
      for (const job of jobs.all) launch([job], oncePerInterval ? jobs.patternOf(job).latest(now) : now, 'startup', jobs.nextOf(job, now));
    },
    /** A prepared slot's last look at the control state (the scheduler's onLastLook). */
    lastLook(slot: number) {
      if ([...prepared.values()].some((p) => p.slot === slot)) looks.set(slot, lookOf(upkeep.control.refresh()));
    },
    /** A prepared slot that will not fire after all (the wall clock went back past it): its cycles close unsent. */
    release(slot: number, how: Release) {
      for (const [symbol, ready] of prepared) {
        if (ready.slot !== slot) continue;
        prepared.delete(symbol);
        ready.release(how);
      }
    },
    /** Aborted when the shutdown grace runs out: in-flight attempts end `aborted`, their cycles `interrupted`. */
    abortAll: cycles.abortAll,
    /**
     * No more slots: the control's hands are let go, and a slot prepared but not yet fired (a stop during its last
     * stretch, or its re-armed wait after a small clock step back) closes as interrupted, unsent. Returns the
     * cycles still in flight, to drain.
     */
    stop(): Promise<unknown>[] {
      upkeep.control.attach(undefined);
      for (const { release } of prepared.values()) release('shutdown');
      prepared.clear();
      return cycles.inFlight();
    },
  };
}

/**
 * The control watcher's hands (src/control/watch.ts), attached while slots fire: a run-now request this
 * agent took fires at once (deadline the next slot; the slot decision over the pauses read with the take); a
 * `pause --abort` cuts the cycles in flight it covers, recorded `interrupted` (reason `paused`).
 */
function attachHands(d: AgentDeps, upkeep: Upkeep, jobs: Jobs, launch: Launch, cut: (pause: Pause) => void): void {
  upkeep.control.attach({
    fire: (request: TriggerRequest, slot: number, pauses?: readonly Pause[]) => {
      const named = jobs.all.filter((job) => targetCovers(request.symbol, job.symbol, job.timeframe));
      const stopping = d.stop.aborted;
      if (!stopping) d.log.info(`Run-now request #${request.id} by ${request.by}${request.reason ? ` (${request.reason})` : ''}: firing a manual cycle`);
      launch(named, slot, 'manual', undefined, { pauses, stopping, request: `run-now request #${request.id}` });
    },
    cut,
  });
}

// Starts a cycle per job at `slot`, unless the slot decision skips it (recorded either way); its deadline is
// `until`, else the job's next slot. `read`: what the database said with the take of a run-now request, and
// whether the agent is stopping.
function launcher(d: AgentDeps, jobs: Jobs, decider: ReturnType<typeof slotDecider>, cycles: ReturnType<typeof createCycles>): Launch {
  return (due, slot, trigger, until, read) => {
    for (const job of due) {
      const deadline = until ?? jobs.nextOf(job, slot);
      const decision = decider.fromCopy(job, slot, cycles.busyPast(job, slot), read);
      if (decision.kind === 'fire') {
        cycles.start({ job, trigger, slot, deadline, executionOff: executionOffOf(decision), check: decider.check(job, slot, trigger, deadline) });
        continue;
      }
      const at = new Date(slot).toISOString();
      if (decision.reason === 'overlap') d.log.warn(`Previous cycle for ${jobs.nameOf(job)} still running at slot ${at}: slot skipped (overlap)`);
      else d.log.debug(`Slot ${at} skipped for ${jobs.nameOf(job)}: ${decision.why}`);
      const why = decision.reason === 'shutdown' && read ? `${read.request} taken as the agent stopped` : decision.why;
      cycles.recordSkip(job, trigger, slot, deadline, decision.reason, why);
    }
  };
}

/** A slot's last look at the control state, and whether it has answered (then the slot's write needs no hop). */
interface Look {
  done: Promise<void>;
  settled: boolean;
}
function lookOf(done: Promise<void>): Look {
  const look = { done, settled: false };
  void done.then(() => (look.settled = true));
  return look;
}

/** What the take of a run-now request read, for its launch. */
interface TakeRead {
  pauses: readonly Pause[] | undefined;
  stopping: boolean;
  request: string;
}
type Launch = (jobs: readonly Job[], slot: number, trigger: Trigger, until: number | undefined, read?: TakeRead) => void;

/**
 * The facts of the slot decision as this agent has them: the control state in memory (the copy), the clock's
 * verdict, the configuration; or the pauses the database holds now (a late send, a retry, the take of a request).
 */
function slotDecider(d: AgentDeps, upkeep: Upkeep, config: Config, executionBlackout: ExecutionBlackout) {
  const facts = (job: Job, at: number, pauses: readonly Pause[], overlap: boolean, stopping = false): SlotFacts => ({
    symbol: job.symbol,
    timeframe: job.timeframe,
    at,
    pauses,
    overlap,
    clock: upkeep.clock?.verdict ?? { blocked: false },
    stopping,
    triggerExecution: config.triggerExecution,
    executionBlackout,
  });
  return {
    /** From the copy; with `read` (the take of a run-now request) the stricter of the copy and the database. */
    fromCopy(job: Job, at: number, overlap: boolean, read?: { pauses: readonly Pause[] | undefined; stopping: boolean }): SlotDecision {
      const copy = decideSlot(facts(job, at, upkeep.control.state.pauses, overlap, read?.stopping));
      return read?.pauses ? stricter(copy, decideSlot(facts(job, at, read.pauses, overlap, read.stopping))) : copy;
    },
    /** A cycle's decisions at its sends (send-check.ts). */
    // A startup cycle is no moment of the pattern (keyed by the last slot on a shared database): no freshness limit.
    check: (job: Job, slot: number, trigger: Trigger, deadline: number): SendCheck => ({
      maxLatenessMs: trigger === 'startup' ? undefined : maxLatenessOf(slot, deadline, config.maxLatenessMs),
      atSlot: () => decideSlot(facts(job, slot, upkeep.control.state.pauses, false)),
      fromDatabase: async (at, inFlight) => decideSlot({ ...facts(job, at, await pausesInForce(d.database.db, at, job.symbol, job.timeframe), false), inFlight }),
    }),
  };
}
