// The write queue: a driver (this file) over the pure state of state.ts; what a write is, and how it is run or
// printed, in queued-write.ts; what the log says of an outage, in outage.ts.
import type { Clock } from '../../time/clock.ts';
import { backoffDelay, RECONNECT_BACKOFF, type Backoff } from '../../time/backoff.ts';
import type { Logger } from '../../log/logger.ts';
import { errorLine } from '../../log/error-line.ts';
import { recordLabel } from '../../records.ts';
import { runEffect, slotName } from './effects.ts';
import { outageReport } from './outage.ts';
import { UNCLAIMED } from '../history/history-store.ts';
import type { HistoryStore, NewCycle } from '../port.ts';
import type { SideFile } from './side-file.ts';
import { execute, provisionalResult, weightOf, type Write } from './queued-write.ts';
import * as J from './state.ts';

/**
 * The most writes held in memory while the database cannot take them. A cycle answered at the first attempt is
 * 4 writes (claim, attempt start, attempt end, cycle end), so this covers about 40 minutes of an every-second
 * pattern with one symbol, or about 40 hours of an every-minute one. A write holds at most a 16 KiB excerpt.
 */
export const WRITE_QUEUE_LIMIT = 10_000;

/**
 * The most memory those writes may hold (weightOf): a count alone let 40 s of a locked database grow the agent from
 * 92 to 222 MB when Diego's texts were large (issue 15 item 6). Ordinary writes weigh ~0.3 KB, so the count is
 * what binds them; this binds writes that carry 16 KiB excerpts, about a thousand of them.
 */
export const WRITE_QUEUE_BYTES = 32 * 1024 * 1024;

/** How often a continuing outage is logged again. */
export const OUTAGE_REPORT_EVERY_MS = 60_000;

export interface WriteQueueOptions {
  log: Logger;
  /** Paces retries and dates outages; the agent passes the system clock. */
  clock: Clock;
  /** Receives one JSON line per write that leaves the queue unwritten (the CLI passes stderr). */
  dump: (line: string) => void;
  /** Applied to each dumped line: queued values are not redacted yet (the store redacts as it writes). */
  redact: (text: string) => string;
  /**
   * Turns waiting for another connection's lock off while the database is unavailable and back on after: the
   * retries (and the agent's other writes) then fail at once instead of blocking the event loop, and so the
   * scheduler, for a whole busy timeout each. Only the write that discovers an outage waits.
   */
  lockWaits?: (wait: boolean) => Promise<void>;
  /**
   * Asked at each claim: whether slot claims (and skipped-slot records, which claim the slot too) must be written
   * before the slot fires (BackendTraits.claimMustSucceed, or another agent on the same SQLite file). Then they never
   * wait in the queue: they go straight to the database, even during an outage (that is also how the queue hears the
   * database is back), and a failure reaches the caller, which then does not fire the slot.
   */
  claimMustSucceed?: () => boolean;
  /** Told when an outage begins, with its error (the `storage_fault` notification). */
  onOutage?: (error: string) => void;
  /** Which errors mean an outage rather than a bug (BackendTraits.isUnavailable). */
  isStorageFault: (err: unknown) => boolean;
  /** Which failed claims may have been written all the same, and are voided (BackendTraits.mayHaveCommitted). */
  mayHaveCommitted?: (err: unknown) => boolean;
  /** Where what the queue holds during an outage is also kept on disk (SQLite: beside the database). */
  sideFile?: SideFile;
  limit?: number;
  /** Bytes held at most (default WRITE_QUEUE_BYTES). */
  byteLimit?: number;
  retry?: Backoff;
  reportEveryMs?: number;
}

/** A HistoryStore that never loses a write to a database outage; see {@link createWriteQueue}. */
export interface WriteQueue extends HistoryStore {
  /** Writes waiting for the database. */
  readonly queued: number;
  /**
   * Shutdown: keeps flushing for `withinMs` (at least one more try, the database may be back), then prints each
   * write still queued to `dump` as a JSON line and refuses further writes the same way.
   */
  settle(withinMs: number): Promise<void>;
}

/**
 * Wraps the history store so a database that becomes unwritable or locked mid-run costs no record and no fire.
 *
 * Healthy, every write goes straight through, one at a time, in order. When one fails with a storage fault the
 * queue holds it and every later write (order matters: an attempt needs its cycle), answers at once with
 * provisional ids (negative, shown as `#q3`; later writes that refer to them are mapped to the real ids when
 * written), logs the outage once and then every `reportEveryMs`, and retries the oldest write with capped
 * backoff until the database takes them all. On SQLite used by one agent availability wins: a slot claim that
 * cannot be written is queued like the rest, so the cycle still fires; if another agent claimed the same slot
 * meanwhile, the conflict is logged as an error and our record of the cycle goes to `dump`. While `claimMustSucceed`
 * says so (PostgreSQL shared by replicas, a SQLite file another agent shares) claims bypass the queue instead: no
 * claim, no fire; the queue keeps only the records of cycles that were claimed and fired before the database went away.
 *
 * Overflow drops the oldest writes (with the writes that depend on them, so cycles are kept or dropped whole):
 * the newest describe what the agent is doing now, and an in-flight cycle can always record how it ended. A
 * dropped write is counted, logged and printed to `dump` as JSON, so even then it survives in the logs.
 *
 * What the queue holds and how it changes is the pure state of state.ts; this is its driver: the flush loop, the
 * backoff, the side file, the log lines and the callers' promises.
 */
export function createWriteQueue(inner: HistoryStore, opts: WriteQueueOptions): WriteQueue {
  const mustClaim = opts.claimMustSucceed ?? (() => false);
  const j = journalDriver(inner, opts, mustClaim);

  /**
   * A claim that must be written before its slot fires: straight to the database, its failure to the caller. Given
   * `cycle` (a slot claim, not a skipped record), a failure that may have been committed all the same is voided.
   */
  async function claimNow<T>(write: () => Promise<T>, cycle?: NewCycle): Promise<T> {
    if (j.state.closed) throw new Error('the database was still unavailable at shutdown: not claiming');
    let result: T;
    try {
      result = await write();
    } catch (err) {
      // Lock waits off until a claim goes through: a SQLite claim waiting a whole busy timeout every slot would
      // block the thread, and so the scheduler, for as long as the lock lasts.
      if (opts.isStorageFault(err)) j.apply(J.claimFailed(j.state));
      if (cycle && opts.mayHaveCommitted?.(err)) voidLater(cycle, err);
      throw err;
    }
    j.apply(J.claimWritten(j.state));
    // The database took it: if writes are queued behind an outage, flush them now rather than after the backoff.
    j.wake();
    return result;
  }

  /**
   * The claim's connection died after the statement left: the row may be in the database, `running` and owned by
   * us, though the slot is not fired. Queued like any record, so it waits out the outage, and is printed at
   * shutdown if the database never answers: then the operator reads which slot's row to close.
   */
  function voidLater(cycle: NewCycle, err: unknown) {
    const slot = slotName(cycle);
    opts.log.warn(`The claim of slot ${slot} may have been written before its connection failed; it is recorded skipped (${UNCLAIMED}) once the database answers`, { symbol: cycle.symbol, slot: new Date(cycle.scheduledAt).toISOString() });
    // What it did is logged when written (the voidClosed effect); a refusal is the one outcome left to say here.
    j.submit({ kind: 'voidClaim', cycle, error: `not fired: the claim's answer was lost (${errorLine(err)})` }).catch((e) => opts.log.error(`Could not void the claim of slot ${slot}`, { symbol: cycle.symbol }, e));
  }

  const temp = (table: 'cycle' | 'attempt') => {
    const [state, id] = J.allocate(j.state, table);
    j.state = state;
    return id;
  };
  return {
    get queued() {
      return j.state.queue.length;
    },
    claimCycle: (cycle) => (mustClaim() ? claimNow(() => inner.claimCycle(cycle), cycle) : j.submit({ kind: 'claimCycle', cycle, temp: temp('cycle') })),
    // A provisional id (a queued claim) has no answer: the agent's copy decides alone.
    claimAnswer: (id) => (id > 0 ? inner.claimAnswer(id) : undefined),
    recordSkipped: (cycle, reason, error) =>
      mustClaim() ? claimNow(() => inner.recordSkipped(cycle, reason, error)) : j.submit({ kind: 'recordSkipped', cycle, reason, error }),
    voidClaim: (cycle, error) => j.submit({ kind: 'voidClaim', cycle, error }),
    finishCycle: (id, end) => j.submit({ kind: 'finishCycle', id, end }),
    startAttempt: (attempt) => j.submit({ kind: 'startAttempt', attempt, temp: temp('attempt') }),
    finishAttempt: (id, end) => j.submit({ kind: 'finishAttempt', id, end }),
    recoverInterrupted: (now, self, isAlive) => j.submit({ kind: 'recoverInterrupted', now, self, isAlive }),
    settle: (withinMs) => j.settle(withinMs),
  };
}

/** The flush loop over the pure state: sends the oldest write, applies what came of it, naps the backoff after a fault. */
function journalDriver(inner: HistoryStore, opts: WriteQueueOptions, mustClaim: () => boolean) {
  const { log, clock } = opts;
  const { limits, retry, outage } = settings(opts, mustClaim);
  const waiters = new Map<number, { resolve(value: unknown): void; reject(err: unknown): void }>();
  let working = false;
  let settleBy: number | undefined;
  let napping: AbortController | undefined;
  /** The wait before the next flush, drawn once per failed try (the outage line says the wait the flush keeps). */
  let waitMs = 0;
  const { notify, next: nextProgress } = progressSignal();

  const d = {
    state: J.initialState(),
    apply(step: J.Step) {
      d.state = step.state;
      for (const e of step.effects) runEffect(e, { opts, outage, waiters, driver: d, backoffMs: () => waitMs });
    },
    wake: () => napping?.abort(),
    submit<T>(write: Write): Promise<T> {
      const step = J.enqueue(d.state, write, weightOf(write), limits);
      const result = step.provisional
        ? Promise.resolve(provisionalResult(write) as T)
        : new Promise<T>((resolve, reject) => waiters.set(step.seq!, { resolve: resolve as (v: unknown) => void, reject }));
      d.apply(step); // after the waiter is registered: making room may answer the new write's elders, never itself
      if (step.seq !== undefined && !working) void work();
      return result;
    },
    async settle(withinMs: number) {
      if (d.state.closed) return;
      settleBy = clock.now() + withinMs;
      napping?.abort(); // try again now rather than at the end of the backoff
      while (d.state.queue.length > 0) {
        const moved = nextProgress();
        if (!working) void work();
        await moved;
        if (clock.now() >= settleBy) break;
      }
      d.state = J.close(d.state);
      napping?.abort();
      while (d.state.executing) await nextProgress(); // a write under way is either written or kept, never both
      opts.sideFile?.close(); // what it holds stays on disk for the next start
      const left = d.state.queue.length;
      if (left === 0) return;
      log.error(`Database still unavailable at shutdown (${outage.error ?? 'unknown error'}): ${left} unwritten record(s) follow on stderr as JSON lines`, { unwritten: left });
      d.apply(J.abandonAll(d.state));
    },
  };

  async function nap() {
    const remaining = settleBy === undefined ? waitMs : Math.max(0, Math.min(waitMs, settleBy - clock.now()));
    napping = new AbortController();
    await clock.sleep(remaining, napping.signal);
    napping = undefined;
  }

  async function work() {
    working = true;
    try {
      while (d.state.queue.length > 0 && !d.state.closed) {
        const first = d.state.queue[0]!;
        d.state = J.sending(d.state);
        let result: unknown;
        try {
          result = await execute(inner, first.write, (table, id) => databaseId(d.state, table, id));
        } catch (err) {
          if (opts.isStorageFault(err)) {
            waitMs = backoffDelay(retry, d.state.failedTries + 1, clock.random);
            d.apply(J.failed(d.state, err));
            notify();
            await nap();
          } else d.apply(J.refused(d.state, err, errorLine(err)));
          continue;
        }
        d.apply(J.flushed(d.state, result));
        if (settleBy !== undefined) notify();
      }
    } finally {
      working = false;
      notify();
    }
  }
  return d;
}

/** Wakes whoever waits for the queue to move (settle). */
function progressSignal() {
  let waiting: (() => void)[] = [];
  return {
    notify() {
      const woken = waiting;
      waiting = [];
      for (const w of woken) w();
    },
    next: () => new Promise<void>((resolve) => waiting.push(resolve)),
  };
}

/** The database id a queued write refers to. */
function databaseId(s: J.JournalState, table: 'cycle' | 'attempt', id: number): number {
  const real = J.databaseId(s, table, id);
  if (real === undefined) throw new Error(`write queue: ${table} ${recordLabel(id)} has no database id`); // cannot happen: writes run in order
  return real;
}

/** The queue's bounds, its backoff and its outage report, defaults filled in. */
function settings(opts: WriteQueueOptions, mustClaim: () => boolean) {
  const limits = { count: Math.max(2, opts.limit ?? WRITE_QUEUE_LIMIT), bytes: opts.byteLimit ?? WRITE_QUEUE_BYTES };
  const outage = outageReport(opts.log, limits.count, opts.reportEveryMs ?? OUTAGE_REPORT_EVERY_MS, limits.bytes, () => !mustClaim());
  return { limits, retry: opts.retry ?? RECONNECT_BACKOFF, outage };
}
