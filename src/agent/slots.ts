import { ALL_SYMBOLS, type Pause, type TriggerRequest } from '../control/state.ts';
import { pausesInForce } from '../control/pauses-in-force.ts';
import type { Config } from '../config.ts';
import type { Trigger } from '../records.ts';
import type { AgentDeps } from './deps.ts';
import type { Release } from './cycle.ts';
import { createCycles } from './slot-cycles.ts';
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
export function createSlots(d: AgentDeps, upkeep: Upkeep, config: Config, executionBlackout: ExecutionBlackout = NO_BLACKOUT) {
  const cycles = createCycles(d, upkeep, config);
  // Cycles claimed ahead of their slot (runSchedule's onPrepare), each waiting for its release at the boundary.
  const prepared = new Map<string, { slot: number; release: (r: Release) => void }>();
  const decider = slotDecider(d, upkeep, config, executionBlackout);
  // Each prepared slot's last look at the control state (LAST_LOOK_MS before it), which its release waits for.
  const looks = new Map<number, Promise<void>>();

  // PREPARE_LEAD_MS before a slot: claim it and write the first attempt's row now, so at the boundary only the
  // request is left to send. A slot the decision skips now is decided again, and recorded, at the slot.
  const prepare = (slot: number) => {
    let deadline: number | undefined; // the same next slot for every symbol: computed once, if any is prepared
    for (const symbol of config.symbols) {
      const decision = decider.fromCopy(symbol, slot, cycles.busyPast(symbol, slot));
      if (decision.kind === 'skip') continue;
      let release!: (r: Release) => void;
      const gate = new Promise<Release>((resolve) => (release = resolve));
      prepared.set(symbol, { slot, release });
      deadline ??= config.cron.next(slot);
      cycles.start({ symbol, trigger: 'schedule', slot, deadline, executionOff: executionOffOf(decision), check: decider.check(symbol, slot, 'schedule', deadline) }, gate);
    }
  };

  // `deadline` defaults to the next slot, computed only after the prepared cycles are released. A prepared cycle
  // decides at its release, from the copy (its SendCheck): no database read at the boundary.
  const fire = (slot: number, trigger: Trigger, deadline?: number) => {
    const fresh: string[] = [];
    const look = looks.get(slot);
    looks.clear();
    for (const symbol of config.symbols) {
      const ready = prepared.get(symbol);
      prepared.delete(symbol);
      // Read well before the boundary, the look is settled by now: its `then` costs a microtask. A database slow to
      // answer holds the request until it has (then it leaves late, and re-checks: send-check.ts).
      if (ready?.slot === slot) {
        if (look) void look.then(() => ready.release('fire'));
        else ready.release('fire');
      } else {
        // Prepared for a slot that was passed over (a late wake-up): it closes as skipped; this slot runs fresh.
        ready?.release('missed');
        fresh.push(symbol);
      }
    }
    cycles.cutDue(slot);
    if (fresh.length > 0) launch(fresh, slot, trigger, deadline ?? config.cron.next(slot));
  };

  // Starts a cycle per symbol at `slot`, unless the slot decision skips it (recorded either way). `read`: what the
  // database said with the take of a run-now request, and whether the agent is stopping.
  const launch: Launch = (symbols, slot, trigger, until, read) => {
    for (const symbol of symbols) {
      const decision = decider.fromCopy(symbol, slot, cycles.busyPast(symbol, slot), read);
      if (decision.kind === 'fire') {
        cycles.start({ symbol, trigger, slot, deadline: until, executionOff: executionOffOf(decision), check: decider.check(symbol, slot, trigger, until) });
        continue;
      }
      const at = new Date(slot).toISOString();
      if (decision.reason === 'overlap') d.log.warn(`Previous cycle for ${symbol} still running at slot ${at}: slot skipped (overlap)`);
      else d.log.debug(`Slot ${at} skipped for ${symbol}: ${decision.why}`);
      const why = decision.reason === 'shutdown' && read ? `${read.request} taken as the agent stopped` : decision.why;
      cycles.recordSkip(symbol, trigger, slot, until, decision.reason, why);
    }
  };

  attachHands(d, upkeep, config, launch, cycles.cutPaused);

  return {
    prepare,
    fire,
    /** A prepared slot's last look at the control state (the scheduler's onLastLook). */
    lastLook(slot: number) {
      if ([...prepared.values()].some((p) => p.slot === slot)) looks.set(slot, upkeep.control.refresh());
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
function attachHands(d: AgentDeps, upkeep: Upkeep, config: Config, launch: Launch, cut: (pause: Pause) => void): void {
  upkeep.control.attach({
    fire: (request: TriggerRequest, slot: number, pauses?: readonly Pause[]) => {
      const symbols = request.symbol === ALL_SYMBOLS ? config.symbols : [request.symbol];
      const stopping = d.stop.aborted;
      if (!stopping) d.log.info(`Run-now request #${request.id} by ${request.by}${request.reason ? ` (${request.reason})` : ''}: firing a manual cycle`);
      launch(symbols, slot, 'manual', config.cron.next(slot), { pauses, stopping, request: `run-now request #${request.id}` });
    },
    cut,
  });
}

/** What the take of a run-now request read, for its launch. */
interface TakeRead {
  pauses: readonly Pause[] | undefined;
  stopping: boolean;
  request: string;
}
type Launch = (symbols: readonly string[], slot: number, trigger: Trigger, until: number, read?: TakeRead) => void;

/**
 * The facts of the slot decision as this agent has them: the control state in memory (the copy), the clock's
 * verdict, the configuration; or the pauses the database holds now (a late send, a retry, the take of a request).
 */
function slotDecider(d: AgentDeps, upkeep: Upkeep, config: Config, executionBlackout: ExecutionBlackout) {
  const facts = (symbol: string, at: number, pauses: readonly Pause[], overlap: boolean, stopping = false): SlotFacts => ({
    symbol,
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
    fromCopy(symbol: string, at: number, overlap: boolean, read?: { pauses: readonly Pause[] | undefined; stopping: boolean }): SlotDecision {
      const copy = decideSlot(facts(symbol, at, upkeep.control.state.pauses, overlap, read?.stopping));
      return read?.pauses ? stricter(copy, decideSlot(facts(symbol, at, read.pauses, overlap, read.stopping))) : copy;
    },
    /** A cycle's decisions at its sends (send-check.ts). */
    // A startup cycle is no moment of the pattern (keyed by the last slot on a shared database): no freshness limit.
    check: (symbol: string, slot: number, trigger: Trigger, deadline: number): SendCheck => ({
      maxLatenessMs: trigger === 'startup' ? undefined : maxLatenessOf(slot, deadline, config.maxLatenessMs),
      atSlot: () => decideSlot(facts(symbol, slot, upkeep.control.state.pauses, false)),
      fromDatabase: async (at, inFlight) => decideSlot({ ...facts(symbol, at, await pausesInForce(d.database.db, at, symbol), false), inFlight }),
    }),
  };
}
