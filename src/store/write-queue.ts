import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import { ownerOf, recordLabel, type AgentIdentity, type AttemptEnd, type CycleEnd, type HistoryStore, type NewAttempt, type NewCycle } from './history-store.ts';

/**
 * The most writes held in memory while the database cannot take them. A cycle answered at the first attempt is
 * 4 writes (claim, attempt start, attempt end, cycle end), so this covers about 40 minutes of an every-second
 * pattern with one symbol, or about 40 hours of an every-minute one. A write holds at most a 16 KiB excerpt.
 */
export const WRITE_QUEUE_LIMIT = 10_000;

/**
 * The agent's SQLite busy timeout. better-sqlite3 is synchronous: waiting for a lock blocks the event loop, and so
 * the scheduler. Behind the write queue a write that cannot get the lock in time loses nothing (it is queued), so
 * the wait can be short; it stays far longer than another agent's commit (milliseconds), so that two agents
 * sharing a file never take each other's ordinary writes for a fault.
 */
export const AGENT_BUSY_TIMEOUT_MS = 1000;

/** Capped exponential backoff between flush attempts while the database is unavailable. */
export const FLUSH_RETRY = { firstMs: 500, maxMs: 10_000 } as const;

/** How often a continuing outage is logged again. */
export const OUTAGE_REPORT_EVERY_MS = 60_000;

// SQLite result codes (primary part; node:sqlite errors are given the same `code` by our driver) that mean "the
// database cannot take this write now, but may later": a lock, a full disk, I/O or permission trouble, a file
// replaced under us. Anything else (a constraint, an SQL error) is a bug that retrying would not fix.
const STORAGE_FAULTS = new Set(['BUSY', 'LOCKED', 'NOMEM', 'READONLY', 'IOERR', 'CORRUPT', 'FULL', 'CANTOPEN', 'PROTOCOL', 'NOTADB', 'NOLFS', 'PERM']);

/** Whether a write failed because of the storage (worth queueing and retrying) rather than a bug. */
export function isStorageFault(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  const primary = typeof code === 'string' ? /^SQLITE_([A-Z]+)/.exec(code)?.[1] : undefined;
  return primary !== undefined && STORAGE_FAULTS.has(primary);
}

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
   * The backend's choice (BackendTraits.claimMustSucceed): slot claims (and skipped-slot records, which claim the
   * slot too) never wait in the queue. They go straight to the database, even during an outage (that is also how
   * the queue hears the database is back), and a failure reaches the caller, which then does not fire the slot.
   */
  claimMustSucceed?: boolean;
  /** Which errors mean an outage rather than a bug (default: SQLite's, {@link isStorageFault}). */
  isStorageFault?: (err: unknown) => boolean;
  limit?: number;
  retry?: { firstMs: number; maxMs: number };
  reportEveryMs?: number;
}

/** A HistoryStore that never loses a write to a database outage; see {@link createWriteQueue}. */
export interface WriteQueue extends HistoryStore {
  /** Writes waiting for the database. */
  readonly queued: number;
  settle(withinMs: number): Promise<void>;
}

type Write =
  | { kind: 'claimCycle'; cycle: NewCycle; temp: number }
  | { kind: 'recordSkipped'; cycle: NewCycle; reason: string; error: string }
  | { kind: 'finishCycle'; id: number; end: CycleEnd }
  | { kind: 'startAttempt'; attempt: NewAttempt; temp: number }
  | { kind: 'finishAttempt'; id: number; end: AttemptEnd }
  | { kind: 'recoverInterrupted'; now: number; self: AgentIdentity; isAlive: (pid: number) => boolean };

interface Entry {
  write: Write;
  /** The caller still awaits the real result; once answered provisionally it holds a provisional id instead. */
  waiting?: { resolve(value: unknown): void; reject(err: unknown): void };
}

type Table = 'cycle' | 'attempt';

/** Why a write left the queue unwritten: the `reason` of its JSON line. */
type Unwritten = 'queue_full' | 'claim_conflict' | 'rejected' | 'shutdown';

/**
 * Wraps the history store so a database that becomes unwritable or locked mid-run costs no record and no fire.
 *
 * Healthy, every write goes straight through, one at a time, in order. When one fails with a storage fault the
 * queue holds it and every later write (order matters: an attempt needs its cycle), answers at once with
 * provisional ids (negative, shown as `#q3`; later writes that refer to them are mapped to the real ids when
 * written), logs the outage once and then every `reportEveryMs`, and retries the oldest write with capped
 * backoff until the database takes them all. On SQLite availability wins: a slot claim that cannot be written
 * is queued like the rest, so the cycle still fires; if another agent claimed the same slot meanwhile, the
 * conflict is logged as an error and our record of the cycle goes to `dump`. With `claimMustSucceed` (PostgreSQL,
 * shared by replicas) claims bypass the queue instead: no claim, no fire; the queue keeps only the records of
 * cycles that were claimed and fired before the database went away.
 *
 * Overflow drops the oldest writes (with the writes that depend on them, so cycles are kept or dropped whole):
 * the newest describe what the agent is doing now, and an in-flight cycle can always record how it ended. A
 * dropped write is counted, logged and printed to `dump` as JSON, so even then it survives in the logs.
 */
export function createWriteQueue(inner: HistoryStore, opts: WriteQueueOptions): WriteQueue {
  const { log, clock } = opts;
  const limit = Math.max(2, opts.limit ?? WRITE_QUEUE_LIMIT);
  const retry = opts.retry ?? FLUSH_RETRY;
  const reportEveryMs = opts.reportEveryMs ?? OUTAGE_REPORT_EVERY_MS;
  const storageFault = opts.isStorageFault ?? isStorageFault;

  const queue: Entry[] = [];
  const provisional = { cycle: 0, attempt: 0 };
  // Provisional id → database id, kept while the caller may still refer to it (until its finish is written).
  const realIds = { cycle: new Map<number, number>(), attempt: new Map<number, number>() };
  // Provisional ids whose insert left the queue unwritten, with the reason: writes that refer to them follow it.
  const lostIds = { cycle: new Map<number, Unwritten>(), attempt: new Map<number, Unwritten>() };

  let outage: { since: number; error: string; reportedAt: number; written: number; dropped: number; conflicts: number } | undefined;
  let backoffMs = retry.firstMs;
  let working = false;
  let executing = false;
  let closed = false;
  let settleBy: number | undefined;
  let napping: AbortController | undefined;
  let progress: (() => void)[] = [];

  const notify = () => {
    const waiters = progress;
    progress = [];
    for (const w of waiters) w();
  };
  const nextProgress = () => new Promise<void>((resolve) => progress.push(resolve));

  const creates = (w: Write): { table: Table; temp: number } | undefined =>
    w.kind === 'claimCycle' ? { table: 'cycle', temp: w.temp } : w.kind === 'startAttempt' ? { table: 'attempt', temp: w.temp } : undefined;
  const refersTo = (w: Write): { table: Table; id: number } | undefined =>
    w.kind === 'finishCycle' ? { table: 'cycle', id: w.id } : w.kind === 'startAttempt' ? { table: 'cycle', id: w.attempt.cycleId } : w.kind === 'finishAttempt' ? { table: 'attempt', id: w.id } : undefined;
  const lostParent = (w: Write): Unwritten | undefined => {
    const ref = refersTo(w);
    return ref && ref.id < 0 ? lostIds[ref.table].get(ref.id) : undefined;
  };
  const dbId = (table: Table, id: number): number => {
    if (id > 0) return id;
    const real = realIds[table].get(id);
    if (real === undefined) throw new Error(`write queue: ${table} ${recordLabel(id)} has no database id`); // cannot happen: writes run in order
    return real;
  };
  // A finish is the last write that names its row: the mapping is no longer needed.
  const forget = (table: Table, id: number) => {
    realIds[table].delete(id);
    lostIds[table].delete(id);
  };

  const provisionalResult = (w: Write): unknown =>
    w.kind === 'claimCycle' || w.kind === 'startAttempt' ? w.temp : w.kind === 'recordSkipped' ? true : w.kind === 'recoverInterrupted' ? 0 : undefined;
  const answerProvisionally = (e: Entry) => {
    e.waiting?.resolve(provisionalResult(e.write));
    e.waiting = undefined;
  };

  async function execute(w: Write): Promise<unknown> {
    switch (w.kind) {
      case 'claimCycle':
        return inner.claimCycle(w.cycle);
      case 'recordSkipped':
        return inner.recordSkipped(w.cycle, w.reason, w.error);
      case 'finishCycle':
        return inner.finishCycle(dbId('cycle', w.id), w.end);
      case 'startAttempt':
        return inner.startAttempt({ ...w.attempt, cycleId: dbId('cycle', w.attempt.cycleId) });
      case 'finishAttempt':
        return inner.finishAttempt(dbId('attempt', w.id), w.end);
      case 'recoverInterrupted':
        return inner.recoverInterrupted(w.now, w.self, w.isAlive);
    }
  }

  function record(w: Write): Record<string, unknown> {
    switch (w.kind) {
      case 'claimCycle':
        return { cycle: recordLabel(w.temp), ...w.cycle, status: 'running' };
      case 'recordSkipped':
        return { ...w.cycle, status: 'skipped', reason: w.reason, error: w.error };
      case 'finishCycle':
        return { cycle: recordLabel(w.id), ...w.end };
      case 'startAttempt':
        return { attempt: recordLabel(w.temp), ...w.attempt, cycleId: recordLabel(w.attempt.cycleId) };
      case 'finishAttempt':
        return { attempt: recordLabel(w.id), ...w.end };
      case 'recoverInterrupted':
        return { now: w.now, owner: ownerOf(w.self) };
    }
  }

  function dump(w: Write, reason: Unwritten, detail?: string) {
    const line = { time: new Date(clock.now()).toISOString(), level: 'error', component: 'store', msg: 'unwritten record', reason, ...(detail ? { detail } : {}), write: w.kind, record: record(w) };
    opts.dump(opts.redact(JSON.stringify(line)));
  }

  /** Prints a write that will never reach the database; what it would have created or ended is settled too. */
  function discard(w: Write, reason: Unwritten, detail?: string) {
    dump(w, reason, detail);
    const made = creates(w);
    if (made) lostIds[made.table].set(made.temp, reason);
    if (w.kind === 'finishCycle') forget('cycle', w.id);
    if (w.kind === 'finishAttempt') forget('attempt', w.id);
  }

  /** Sends `e` to the dump, then every queued write that depends on it; returns how many left the queue. */
  function abandon(e: Entry, reason: Unwritten, detail?: string): number {
    answerProvisionally(e);
    discard(e.write, reason, detail);
    if (!creates(e.write)) return 1;
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
    if (w.kind === 'finishCycle') forget('cycle', w.id);
    if (w.kind === 'finishAttempt') forget('attempt', w.id);
    if (e.waiting) {
      e.waiting.resolve(result);
      e.waiting = undefined;
      return;
    }
    // The caller holds a provisional id: remember its real one, and say what became of the queued write.
    if (outage) outage.written++;
    if (w.kind === 'claimCycle') {
      if (result === undefined) {
        if (outage) outage.conflicts++;
        log.error(
          `Slot ${new Date(w.cycle.scheduledAt).toISOString()} of ${w.cycle.symbol} was claimed by another agent while the database was unavailable, ` +
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
    const error = describe(err);
    const now = clock.now();
    if (!outage) {
      outage = { since: now, error, reportedAt: now, written: 0, dropped: 0, conflicts: 0 };
      log.warn(`Database unavailable (${error}): keeping records in memory (up to ${limit} writes) and retrying; cycles keep firing`, { error });
      for (const e of queue) answerProvisionally(e);
      setLockWaits(false);
      return;
    }
    outage.error = error;
    if (now - outage.reportedAt >= reportEveryMs) {
      outage.reportedAt = now;
      log.warn(`Database still unavailable after ${duration(now - outage.since)} (${error}): ${queue.length} write(s) queued, ${outage.dropped} dropped; retrying every ${backoffMs} ms at most`, {
        error,
        queued: queue.length,
        dropped: outage.dropped,
      });
    }
  }

  function onRecovered() {
    if (!outage) return;
    const o = outage;
    outage = undefined;
    backoffMs = retry.firstMs;
    setLockWaits(true);
    const extra = [o.dropped > 0 ? `${o.dropped} dropped when the queue was full` : '', o.conflicts > 0 ? `${o.conflicts} slot(s) also claimed by another agent` : ''].filter(Boolean);
    const line = `Database writable again after ${duration(clock.now() - o.since)}: wrote ${o.written} queued write(s)${extra.length > 0 ? `; ${extra.join('; ')} (records on stderr as JSON)` : ''}`;
    if (extra.length > 0) log.warn(line, { written: o.written, dropped: o.dropped, conflicts: o.conflicts });
    else log.info(line, { written: o.written });
  }

  // A setting on the connection, not a write: it works during an outage; a failure only costs the faster retries.
  const setLockWaits = (wait: boolean) => void opts.lockWaits?.(wait).catch((err) => log.debug(`Could not ${wait ? 'restore' : 'lift'} the busy timeout: ${describe(err)}`));

  async function nap() {
    const remaining = settleBy === undefined ? backoffMs : Math.max(0, Math.min(backoffMs, settleBy - clock.now()));
    napping = new AbortController();
    await clock.sleep(remaining, napping.signal);
    napping = undefined;
    backoffMs = Math.min(retry.maxMs, backoffMs * 2);
  }

  async function work() {
    working = true;
    try {
      while (queue.length > 0 && !closed) {
        const entry = queue[0]!;
        let result: unknown;
        executing = true;
        try {
          result = await execute(entry.write);
        } catch (err) {
          executing = false;
          if (storageFault(err)) {
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
            abandon(entry, 'rejected', describe(err));
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

  function makeRoom() {
    while (queue.length >= limit) {
      const victim = queue.splice(executing ? 1 : 0, 1)[0]!;
      const dropped = abandon(victim, 'queue_full');
      if (outage) {
        if (outage.dropped === 0) log.warn(`Write queue full (${limit} writes): dropping the oldest; each dropped record goes to stderr as JSON`, { limit });
        outage.dropped += dropped;
      }
    }
  }

  function submit<T>(write: Write): Promise<T> {
    const lost = lostParent(write);
    if (closed || lost) {
      discard(write, lost ?? 'shutdown', lost ? 'the row it refers to was not written' : 'the database was still unavailable at shutdown');
      return Promise.resolve(provisionalResult(write) as T);
    }
    makeRoom();
    const entry: Entry = { write };
    queue.push(entry);
    const result = outage ? Promise.resolve(provisionalResult(write) as T) : new Promise<T>((resolve, reject) => (entry.waiting = { resolve: resolve as (v: unknown) => void, reject }));
    if (!working) void work();
    return result;
  }

  /** A claim that must be written before its slot fires: straight to the database, its failure to the caller. */
  async function claimNow<T>(write: () => Promise<T>): Promise<T> {
    if (closed) throw new Error('the database was still unavailable at shutdown: not claiming');
    const result = await write();
    // The database took it: if writes are queued behind an outage, flush them now rather than after the backoff.
    napping?.abort();
    return result;
  }

  return {
    get queued() {
      return queue.length;
    },
    claimCycle: (cycle) => (opts.claimMustSucceed ? claimNow(() => inner.claimCycle(cycle)) : submit({ kind: 'claimCycle', cycle, temp: -++provisional.cycle })),
    recordSkipped: (cycle, reason, error) =>
      opts.claimMustSucceed ? claimNow(() => inner.recordSkipped(cycle, reason, error)) : submit({ kind: 'recordSkipped', cycle, reason, error }),
    finishCycle: (id, end) => submit({ kind: 'finishCycle', id, end }),
    startAttempt: (attempt) => submit({ kind: 'startAttempt', attempt, temp: -++provisional.attempt }),
    finishAttempt: (id, end) => submit({ kind: 'finishAttempt', id, end }),
    recoverInterrupted: (now, self, isAlive) => submit({ kind: 'recoverInterrupted', now, self, isAlive }),

    /**
     * Shutdown: keeps flushing for `withinMs` (at least one more try, the database may be back), then prints each
     * write still queued to `dump` as a JSON line and refuses further writes the same way.
     */
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
      if (left.length === 0) return;
      log.error(`Database still unavailable at shutdown (${outage?.error ?? 'unknown error'}): ${left.length} unwritten record(s) follow on stderr as JSON lines`, { unwritten: left.length });
      for (const e of left) {
        answerProvisionally(e);
        discard(e.write, 'shutdown', 'the database was still unavailable at shutdown');
      }
    },
  };
}

function describe(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown } | null;
  const message = typeof e?.message === 'string' ? e.message : String(err);
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}

/** `850 ms`, `42 s`, `3 min 20 s`. */
function duration(ms: number): string {
  if (ms < 1000) return `${ms} ms`;
  const s = Math.round(ms / 1000);
  return s < 60 ? `${s} s` : `${Math.floor(s / 60)} min${s % 60 ? ` ${s % 60} s` : ''}`;
}
