// The write queue (see createWriteQueue); what it holds and how a write is run, printed or told apart live beside it
// in queued-write.ts and outage.ts.
import type { Clock } from '../../time/clock.ts';
import { backoffDelay, RECONNECT_BACKOFF, type Backoff } from '../../time/backoff.ts';
import type { Logger } from '../../log/logger.ts';
import { errorLine } from '../../log/error-line.ts';
import { escapeJson } from '../../log/escape.ts';
import { recordLabel } from '../../records.ts';
import { outageReport } from './outage.ts';
import { UNCLAIMED } from '../history/history-store.ts';
import type { HistoryStore, NewCycle, VoidedClaim } from '../port.ts';
import type { SideFile } from './side-file.ts';
import { createdBy, execute, finishedBy, provisionalResult, recordOf, referredBy, weightOf, type Table, type Unwritten, type Write } from './queued-write.ts';

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

/** How the queue's lines name a slot. */
const slotName = (c: NewCycle) => `${new Date(c.scheduledAt).toISOString()} of ${c.symbol}`;

interface Entry {
  write: Write;
  /** weightOf(write), taken once. */
  bytes: number;
  /** The caller still awaits the real result; once answered provisionally it holds a provisional id instead. */
  waiting?: { resolve(value: unknown): void; reject(err: unknown): void };
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
 */
export function createWriteQueue(inner: HistoryStore, opts: WriteQueueOptions): WriteQueue {
  const { log, clock } = opts;
  const limit = Math.max(2, opts.limit ?? WRITE_QUEUE_LIMIT);
  const byteLimit = opts.byteLimit ?? WRITE_QUEUE_BYTES;
  const retry = opts.retry ?? RECONNECT_BACKOFF;
  const mustClaim = opts.claimMustSucceed ?? (() => false);
  const outage = outageReport(log, limit, opts.reportEveryMs ?? OUTAGE_REPORT_EVERY_MS, byteLimit, () => !mustClaim());

  const queue: Entry[] = [];
  const provisional = { cycle: 0, attempt: 0 };
  // Provisional id → database id, kept while the caller may still refer to it (until its finish is written).
  const realIds = { cycle: new Map<number, number>(), attempt: new Map<number, number>() };
  // Provisional ids whose insert left the queue unwritten, with the reason: writes that refer to them follow it.
  const lostIds = { cycle: new Map<number, Unwritten>(), attempt: new Map<number, Unwritten>() };

  let failedTries = 0;
  /** The wait before the next flush, drawn once per failed try (the outage line says the wait the flush keeps). */
  let waitMs = 0;
  let working = false;
  let executing = false;
  let closed = false;
  let settleBy: number | undefined;
  let napping: AbortController | undefined;
  let progress: (() => void)[] = [];
  // A claim that met a storage fault turned lock waits off (as an outage does), so the next claims fail at once.
  let claimsFailing = false;
  let asideFailing = false;
  let aside = false;

  /** Puts a queued write in the side file too (outage only): a SIGKILL then loses nothing that was acknowledged. */
  const keepAside = (w: Write) => {
    // After a failed append the file ends in a torn line, where a replay stops: what follows would be lost anyway.
    if (!opts.sideFile || asideFailing) return;
    aside = true;
    try {
      opts.sideFile.append(w);
    } catch (err) {
      log.error(`Could not write the side file ${opts.sideFile.path} (${errorLine(err)}): queued records are in memory only until the database is back`);
      asideFailing = true;
    }
  };

  const notify = () => {
    const waiters = progress;
    progress = [];
    for (const w of waiters) w();
  };
  const nextProgress = () => new Promise<void>((resolve) => progress.push(resolve));

  const lostParent = (w: Write): Unwritten | undefined => {
    const ref = referredBy(w);
    return ref && ref.id < 0 ? lostIds[ref.table].get(ref.id) : undefined;
  };
  const dbId = (table: Table, id: number): number => {
    if (id > 0) return id;
    const real = realIds[table].get(id);
    if (real === undefined) throw new Error(`write queue: ${table} ${recordLabel(id)} has no database id`); // cannot happen: writes run in order
    return real;
  };
  // A finish is the last write that names its row: the mapping is no longer needed.
  const forgetFinished = (w: Write) => {
    const ended = finishedBy(w);
    if (!ended) return;
    realIds[ended.table].delete(ended.id);
    lostIds[ended.table].delete(ended.id);
  };

  const answerProvisionally = (e: Entry) => {
    e.waiting?.resolve(provisionalResult(e.write));
    e.waiting = undefined;
  };

  /** Prints a write that will never reach the database; what it would have created or ended is settled too. */
  function discard(w: Write, reason: Unwritten, detail?: string) {
    const line = { time: new Date(clock.now()).toISOString(), level: 'error', component: 'store', msg: 'unwritten record', reason, ...(detail ? { detail } : {}), write: w.kind, record: recordOf(w) };
    opts.dump(opts.redact(escapeJson(JSON.stringify(line)))); // the record may quote Diego: JSON, safe on a terminal
    const made = createdBy(w);
    if (made) lostIds[made.table].set(made.temp, reason);
    forgetFinished(w);
  }

  /** Sends `e` to the dump, then every queued write that depends on it; returns how many left the queue. */
  function abandon(e: Entry, reason: Unwritten, detail?: string): number {
    answerProvisionally(e);
    discard(e.write, reason, detail);
    if (!createdBy(e.write)) return 1;
    let count = 1;
    // Dependents always come after what they depend on, so one forward pass also catches their own dependents.
    for (let i = executing ? 1 : 0; i < queue.length; ) {
      const dependent = queue[i]!;
      if (lostParent(dependent.write) === undefined) {
        i++;
        continue;
      }
      queue.splice(i, 1);
      answerProvisionally(dependent);
      discard(dependent.write, reason, 'the row it refers to was not written');
      count++;
    }
    return count;
  }

  function onWritten(e: Entry, result: unknown) {
    const w = e.write;
    forgetFinished(w);
    if (w.kind === 'voidClaim' && (result as VoidedClaim) === 'closed') {
      log.info(`The claim of slot ${slotName(w.cycle)} had been written: its row is now skipped (${UNCLAIMED})`, { symbol: w.cycle.symbol });
    }
    if (e.waiting) {
      e.waiting.resolve(result);
      e.waiting = undefined;
      return;
    }
    // The caller holds a provisional id: remember its real one, and say what became of the queued write.
    outage.written();
    if (w.kind === 'claimCycle') {
      if (result === undefined) {
        outage.conflict();
        log.error(
          `Slot ${slotName(w.cycle)} was claimed by another agent while the database was unavailable, ` +
            `but this agent had already fired it as cycle ${recordLabel(w.temp)} (Idempotency-Key ${w.cycle.idempotencyKey}): Diego may have been called twice; ` +
            'its records follow on stderr as JSON',
          { symbol: w.cycle.symbol, slot: new Date(w.cycle.scheduledAt).toISOString() },
        );
        abandon(e, 'claim_conflict', 'the slot was claimed by another agent during the outage');
        return;
      }
      realIds.cycle.set(w.temp, result as number);
      log.info(`Queued cycle ${recordLabel(w.temp)} recorded as ${recordLabel(result as number)}`, { cycle: result, provisional: recordLabel(w.temp) });
    } else if (w.kind === 'startAttempt') realIds.attempt.set(w.temp, result as number);
    else if (w.kind === 'recoverInterrupted' && (result as number) > 0) log.warn(`Marked ${String(result)} cycle(s) left running by a stopped agent as interrupted`);
  }

  function onFault(err: unknown) {
    failedTries++;
    waitMs = backoffDelay(retry, failedTries, clock.random);
    const began = outage.fault(errorLine(err), clock.now(), { queued: queue.length, backoffMs: waitMs });
    if (!began) return;
    opts.onOutage?.(errorLine(err));
    for (const e of queue) {
      keepAside(e.write);
      answerProvisionally(e);
    }
    setLockWaits(false);
  }

  function onRecovered() {
    if (!outage.active) return;
    failedTries = 0;
    if (!claimsFailing) setLockWaits(true);
    if (aside) opts.sideFile?.clear(); // every write it held is in the database now
    aside = asideFailing = false;
    outage.recovered(clock.now());
  }

  // A setting on the connection, not a write: it works during an outage; a failure only costs the faster retries.
  const setLockWaits = (wait: boolean) => void opts.lockWaits?.(wait).catch((err) => log.debug(`Could not ${wait ? 'restore' : 'lift'} the busy timeout: ${errorLine(err)}`));

  async function nap() {
    const remaining = settleBy === undefined ? waitMs : Math.max(0, Math.min(waitMs, settleBy - clock.now()));
    napping = new AbortController();
    await clock.sleep(remaining, napping.signal);
    napping = undefined;
  }

  async function work() {
    working = true;
    try {
      while (queue.length > 0 && !closed) {
        const entry = queue[0]!;
        let result: unknown;
        executing = true;
        try {
          result = await execute(inner, entry.write, dbId);
        } catch (err) {
          executing = false;
          if (opts.isStorageFault(err)) {
            onFault(err);
            notify();
            await nap();
            continue;
          }
          queue.shift();
          // A bug, not an outage: the caller that still waits gets the error as before; a queued write is reported.
          if (entry.waiting) entry.waiting.reject(err);
          else {
            log.error(`A queued ${entry.write.kind} was refused by the database; its record follows on stderr as JSON`, {}, err);
            abandon(entry, 'rejected', errorLine(err));
          }
          continue;
        } finally {
          executing = false;
        }
        queue.shift();
        onWritten(entry, result);
        if (queue.length === 0) onRecovered();
        if (settleBy !== undefined) notify();
      }
    } finally {
      working = false;
      notify();
    }
  }

  /** Drops the oldest writes (never the one under way) until `incoming` fits the count and the bytes. */
  function makeRoom(incoming: Entry) {
    const first = executing ? 1 : 0;
    const held = () => queue.reduce((sum, e) => sum + e.bytes, 0);
    while (queue.length > first && (queue.length >= limit || held() + incoming.bytes > byteLimit)) {
      const victim = queue.splice(first, 1)[0]!;
      outage.dropped(abandon(victim, 'queue_full'));
    }
  }

  function submit<T>(write: Write): Promise<T> {
    const lost = lostParent(write);
    if (closed || lost) {
      discard(write, lost ?? 'shutdown', lost ? 'the row it refers to was not written' : 'the database was still unavailable at shutdown');
      return Promise.resolve(provisionalResult(write) as T);
    }
    const entry: Entry = { write, bytes: weightOf(write) };
    makeRoom(entry);
    queue.push(entry);
    if (outage.active) keepAside(write); // before the caller gets its provisional id, so before any request
    const result = outage.active
      ? Promise.resolve(provisionalResult(write) as T)
      : new Promise<T>((resolve, reject) => (entry.waiting = { resolve: resolve as (v: unknown) => void, reject }));
    if (!working) void work();
    return result;
  }

  /**
   * A claim that must be written before its slot fires: straight to the database, its failure to the caller. Given
   * `cycle` (a slot claim, not a skipped record), a failure that may have been committed all the same is voided.
   */
  async function claimNow<T>(write: () => Promise<T>, cycle?: NewCycle): Promise<T> {
    if (closed) throw new Error('the database was still unavailable at shutdown: not claiming');
    let result: T;
    try {
      result = await write();
    } catch (err) {
      // Lock waits off until a claim goes through: a SQLite claim waiting a whole busy timeout every slot would
      // block the thread, and so the scheduler, for as long as the lock lasts.
      if (opts.isStorageFault(err) && !claimsFailing) {
        claimsFailing = true;
        setLockWaits(false);
      }
      if (cycle && opts.mayHaveCommitted?.(err)) voidLater(cycle, err);
      throw err;
    }
    if (claimsFailing) {
      claimsFailing = false;
      if (!outage.active) setLockWaits(true);
    }
    // The database took it: if writes are queued behind an outage, flush them now rather than after the backoff.
    napping?.abort();
    return result;
  }

  /**
   * The claim's connection died after the statement left: the row may be in the database, `running` and owned by
   * us, though the slot is not fired. Queued like any record, so it waits out the outage, and is printed at
   * shutdown if the database never answers: then the operator reads which slot's row to close.
   */
  function voidLater(cycle: NewCycle, err: unknown) {
    const slot = slotName(cycle);
    log.warn(`The claim of slot ${slot} may have been written before its connection failed; it is recorded skipped (${UNCLAIMED}) once the database answers`, { symbol: cycle.symbol, slot: new Date(cycle.scheduledAt).toISOString() });
    // What it did is logged when written (onWritten); a refusal is the one outcome left to say here.
    submit({ kind: 'voidClaim', cycle, error: `not fired: the claim's answer was lost (${errorLine(err)})` }).catch((e) => log.error(`Could not void the claim of slot ${slot}`, { symbol: cycle.symbol }, e));
  }

  return {
    get queued() {
      return queue.length;
    },
    claimCycle: (cycle) => (mustClaim() ? claimNow(() => inner.claimCycle(cycle), cycle) : submit({ kind: 'claimCycle', cycle, temp: -++provisional.cycle })),
    recordSkipped: (cycle, reason, error) =>
      mustClaim() ? claimNow(() => inner.recordSkipped(cycle, reason, error)) : submit({ kind: 'recordSkipped', cycle, reason, error }),
    voidClaim: (cycle, error) => submit({ kind: 'voidClaim', cycle, error }),
    finishCycle: (id, end) => submit({ kind: 'finishCycle', id, end }),
    startAttempt: (attempt) => submit({ kind: 'startAttempt', attempt, temp: -++provisional.attempt }),
    finishAttempt: (id, end) => submit({ kind: 'finishAttempt', id, end }),
    recoverInterrupted: (now, self, isAlive) => submit({ kind: 'recoverInterrupted', now, self, isAlive }),

    async settle(withinMs) {
      if (closed) return;
      settleBy = clock.now() + withinMs;
      napping?.abort(); // try again now rather than at the end of the backoff
      while (queue.length > 0) {
        const moved = nextProgress();
        if (!working) void work();
        await moved;
        if (clock.now() >= settleBy) break;
      }
      closed = true;
      napping?.abort();
      while (executing) await nextProgress(); // a write under way is either written or kept, never both
      const left = queue.splice(0);
      opts.sideFile?.close(); // what it holds stays on disk for the next start
      if (left.length === 0) return;
      log.error(`Database still unavailable at shutdown (${outage.error ?? 'unknown error'}): ${left.length} unwritten record(s) follow on stderr as JSON lines`, { unwritten: left.length });
      for (const e of left) {
        answerProvisionally(e);
        discard(e.write, 'shutdown', 'the database was still unavailable at shutdown');
      }
    },
  };
}
