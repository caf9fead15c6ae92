import type { VoidedClaim } from '../port.ts';
import { createdBy, finishedBy, provisionalResult, referredBy, type Table, type Unwritten, type Write } from './queued-write.ts';

// The write queue's state and its transitions, without I/O: each transition takes a state and returns the next one
// with the effects the driver (write-queue.ts) carries out, in order: answer a caller, print a write to the dump,
// keep a write in the side file, turn lock waits off or on, say what the outage is doing. Tested on its own
// (test/store/journal-state.test.ts).

/** Whether the database takes writes: `healthy` sends each write straight through; `outage` holds them and retries. */
export type Phase = 'healthy' | 'outage';

/** One write waiting in the queue; `awaited`: its caller still waits for the real result (else it got a provisional one). */
export interface Held {
  readonly seq: number;
  readonly write: Write;
  readonly bytes: number;
  readonly awaited: boolean;
}

type IdMaps<V> = { readonly cycle: ReadonlyMap<number, V>; readonly attempt: ReadonlyMap<number, V> };

export interface JournalState {
  readonly phase: Phase;
  /** Shut down: nothing more is written; what arrives goes to the dump. */
  readonly closed: boolean;
  /** Oldest first; while `executing`, the first is with the database and is never dropped. */
  readonly queue: readonly Held[];
  readonly executing: boolean;
  /** Bytes the queue holds (weightOf of each write). */
  readonly held: number;
  readonly nextSeq: number;
  /** The last provisional id given, per table (counted down from −1). */
  readonly provisional: { readonly cycle: number; readonly attempt: number };
  /** Provisional id → database id, kept while the caller may still refer to it (until its finish is written). */
  readonly realIds: IdMaps<number>;
  /** Provisional ids whose insert left the queue unwritten, with the reason: writes that refer to them follow it. */
  readonly lostIds: IdMaps<Unwritten>;
  /** Storage faults in a row, for the backoff. */
  readonly failedTries: number;
  /** A claim met a storage fault: lock waits are off until one goes through. */
  readonly claimsFailing: boolean;
  /** The side file: unused, holding this outage's writes, or failed (a torn line ends it: nothing more is appended). */
  readonly aside: 'unused' | 'holding' | 'failed';
}

/** What the driver does after a transition, in order. */
export type Effect =
  | { kind: 'answer'; seq: number; value: unknown }
  | { kind: 'reject'; seq: number; error: unknown }
  | { kind: 'dump'; write: Write; reason: Unwritten; detail?: string }
  | { kind: 'keepAside'; write: Write }
  | { kind: 'clearAside' }
  | { kind: 'lockWaits'; wait: boolean }
  | { kind: 'outageBegins'; error: unknown }
  | { kind: 'outageGoesOn'; error: unknown }
  | { kind: 'outageEnds' }
  | { kind: 'dropped'; count: number }
  | { kind: 'writtenLate' }
  | { kind: 'conflict'; write: Extract<Write, { kind: 'claimCycle' }> }
  | { kind: 'recorded'; temp: number; id: number }
  | { kind: 'voidClosed'; write: Extract<Write, { kind: 'voidClaim' }> }
  | { kind: 'interruptedMarked'; count: number }
  | { kind: 'refused'; write: Write; error: unknown };

export interface Step {
  state: JournalState;
  effects: Effect[];
}

const noIds = <V>(): IdMaps<V> => ({ cycle: new Map(), attempt: new Map() });

export const initialState = (): JournalState => ({
  phase: 'healthy',
  closed: false,
  queue: [],
  executing: false,
  held: 0,
  nextSeq: 1,
  provisional: { cycle: 0, attempt: 0 },
  realIds: noIds(),
  lostIds: noIds(),
  failedTries: 0,
  claimsFailing: false,
  aside: 'unused',
});

const withId = <V>(maps: IdMaps<V>, table: Table, id: number, value: V | undefined): IdMaps<V> => {
  const next = new Map(maps[table]);
  if (value === undefined) next.delete(id);
  else next.set(id, value);
  return { ...maps, [table]: next };
};

/** A new provisional id for an insert into `table` (−1, −2, …). */
export function allocate(s: JournalState, table: Table): [JournalState, number] {
  const n = s.provisional[table] + 1;
  return [{ ...s, provisional: { ...s.provisional, [table]: n } }, -n];
}

/** Why `w` cannot be written: the row it refers to left the queue unwritten. */
export function lostParent(s: JournalState, w: Write): Unwritten | undefined {
  const ref = referredBy(w);
  return ref && ref.id < 0 ? s.lostIds[ref.table].get(ref.id) : undefined;
}

/** The database id of `id` (itself when positive); undefined for a provisional id whose insert is not written. */
export const databaseId = (s: JournalState, table: Table, id: number): number | undefined => (id > 0 ? id : s.realIds[table].get(id));

/** A finish is the last write that names its row: the mappings are no longer needed. */
function forgetFinished(s: JournalState, w: Write): JournalState {
  const ended = finishedBy(w);
  if (!ended) return s;
  return { ...s, realIds: withId(s.realIds, ended.table, ended.id, undefined), lostIds: withId(s.lostIds, ended.table, ended.id, undefined) };
}

/** Answers a waiting caller with the provisional result (a no-op for one already answered). */
const answered = (h: Held, effects: Effect[]): Held => {
  if (h.awaited) effects.push({ kind: 'answer', seq: h.seq, value: provisionalResult(h.write) });
  return h.awaited ? { ...h, awaited: false } : h;
};

/** `w` will never reach the database: printed, and what it would have created or ended is settled. */
function discard(s: JournalState, w: Write, reason: Unwritten, effects: Effect[], detail?: string): JournalState {
  effects.push({ kind: 'dump', write: w, reason, ...(detail ? { detail } : {}) });
  const made = createdBy(w);
  const marked = made ? { ...s, lostIds: withId(s.lostIds, made.table, made.temp, reason) } : s;
  return forgetFinished(marked, w);
}

/** Abandon: `h` (already out of the queue) goes to the dump, then every queued write that depends on it. */
function abandon(s: JournalState, h: Held, reason: Unwritten, effects: Effect[], detail?: string): { state: JournalState; count: number } {
  answered(h, effects);
  let state = discard(s, h.write, reason, effects, detail);
  if (!createdBy(h.write)) return { state, count: 1 };
  // Dependents always come after what they depend on, so one forward pass also catches their own dependents.
  const keep: Held[] = [];
  let count = 1;
  let held = state.held;
  state.queue.forEach((d, i) => {
    if ((state.executing && i === 0) || lostParent(state, d.write) === undefined) return void keep.push(d);
    answered(d, effects);
    state = discard(state, d.write, reason, effects, 'the row it refers to was not written');
    held -= d.bytes;
    count++;
  });
  return { state: { ...state, queue: keep, held }, count };
}

/**
 * Enqueue: a write arrives. Closed, or referring to a row that was not written: straight to the dump, answered
 * provisionally. Otherwise queued, after making room (drop the oldest, never the one under way); during an outage
 * it is kept aside too and answered provisionally at once (`provisional`), before any request goes out.
 */
export function enqueue(s: JournalState, write: Write, bytes: number, limits: { count: number; bytes: number }): Step & { seq?: number; provisional: boolean } {
  const effects: Effect[] = [];
  const lost = lostParent(s, write);
  if (s.closed || lost) {
    const state = discard(s, write, lost ?? 'shutdown', effects, lost ? 'the row it refers to was not written' : 'the database was still unavailable at shutdown');
    return { state, effects, provisional: true };
  }
  let state = makeRoom(s, bytes, limits, effects);
  const outage = state.phase === 'outage';
  const h: Held = { seq: state.nextSeq, write, bytes, awaited: !outage };
  state = { ...state, queue: [...state.queue, h], held: state.held + bytes, nextSeq: state.nextSeq + 1 };
  if (outage) state = keptAside(state, write, effects);
  return { state, effects, seq: h.seq, provisional: outage };
}

/** Make room: drops the oldest writes (never the one under way) until `bytes` more fit the count and the bytes. */
function makeRoom(s: JournalState, bytes: number, limits: { count: number; bytes: number }, effects: Effect[]): JournalState {
  let state = s;
  const first = state.executing ? 1 : 0;
  while (state.queue.length > first && (state.queue.length >= limits.count || state.held + bytes > limits.bytes)) {
    const victim = state.queue[first]!;
    const rest = { ...state, queue: state.queue.filter((_, i) => i !== first), held: state.held - victim.bytes };
    const out = abandon(rest, victim, 'queue_full', effects);
    effects.push({ kind: 'dropped', count: out.count });
    state = out.state;
  }
  return state;
}

function keptAside(s: JournalState, write: Write, effects: Effect[]): JournalState {
  if (s.aside === 'failed') return s;
  effects.push({ kind: 'keepAside', write });
  return { ...s, aside: 'holding' };
}

/** The side file took no write: it now ends in a torn line, where a replay stops, so nothing more is appended. */
export const asideFailed = (s: JournalState): JournalState => ({ ...s, aside: 'failed' });

/** The oldest write goes to the database. */
export const sending = (s: JournalState): JournalState => ({ ...s, executing: true });

/** Removes the first write from the queue (the one that was under way). */
const shifted = (s: JournalState): [JournalState, Held] => [{ ...s, queue: s.queue.slice(1), held: s.held - s.queue[0]!.bytes, executing: false }, s.queue[0]!];

/** Flushed: the database took the oldest write with `result`. The queue emptied during an outage ends it. */
export function flushed(s: JournalState, result: unknown): Step {
  const effects: Effect[] = [];
  const [rest, h] = shifted(s);
  let state = forgetFinished(rest, h.write);
  const w = h.write;
  if (w.kind === 'voidClaim' && (result as VoidedClaim) === 'closed') effects.push({ kind: 'voidClosed', write: w });
  if (h.awaited) effects.push({ kind: 'answer', seq: h.seq, value: result });
  else {
    // The caller holds a provisional id: remember its real one, and say what became of the queued write.
    effects.push({ kind: 'writtenLate' });
    if (w.kind === 'claimCycle' && result === undefined) {
      effects.push({ kind: 'conflict', write: w });
      state = abandon(state, h, 'claim_conflict', effects, 'the slot was claimed by another agent during the outage').state;
    } else if (w.kind === 'claimCycle') {
      state = { ...state, realIds: withId(state.realIds, 'cycle', w.temp, result as number) };
      effects.push({ kind: 'recorded', temp: w.temp, id: result as number });
    } else if (w.kind === 'startAttempt') state = { ...state, realIds: withId(state.realIds, 'attempt', w.temp, result as number) };
    else if (w.kind === 'recoverInterrupted' && (result as number) > 0) effects.push({ kind: 'interruptedMarked', count: result as number });
  }
  return state.queue.length === 0 ? outageEnds(state, effects) : { state, effects };
}

/** Outage ends: every held write is in the database; lock waits back on unless claims still fail, the side file cleared. */
function outageEnds(s: JournalState, effects: Effect[]): Step {
  if (s.phase !== 'outage') return { state: s, effects };
  if (!s.claimsFailing) effects.push({ kind: 'lockWaits', wait: true });
  if (s.aside !== 'unused') effects.push({ kind: 'clearAside' });
  effects.push({ kind: 'outageEnds' });
  return { state: { ...s, phase: 'healthy', failedTries: 0, aside: 'unused' }, effects };
}

/**
 * Failed: the oldest write met a storage fault. It stays first and is retried after the backoff; the first fault
 * begins the outage: every waiting caller is answered provisionally, every held write kept aside, lock waits off.
 */
export function failed(s: JournalState, error: unknown): Step {
  const effects: Effect[] = [];
  const base = { ...s, executing: false, failedTries: s.failedTries + 1 };
  if (s.phase === 'outage') return { state: base, effects: [{ kind: 'outageGoesOn', error }] };
  effects.push({ kind: 'outageBegins', error });
  let state: JournalState = { ...base, phase: 'outage' };
  const queue = state.queue.map((h) => {
    state = keptAside(state, h.write, effects);
    return answered(h, effects);
  });
  effects.push({ kind: 'lockWaits', wait: false });
  return { state: { ...state, queue }, effects };
}

/** Refused: the database rejected the oldest write (a bug, not an outage): its waiting caller gets the error, else it is abandoned. */
export function refused(s: JournalState, error: unknown, detail: string): Step {
  const [state, h] = shifted(s);
  if (h.awaited) return { state, effects: [{ kind: 'reject', seq: h.seq, error }] };
  const effects: Effect[] = [{ kind: 'refused', write: h.write, error }];
  return { state: abandon(state, h, 'rejected', effects, detail).state, effects };
}

/** A claim written straight to the database failed with a storage fault: lock waits off until one goes through. */
export function claimFailed(s: JournalState): Step {
  if (s.claimsFailing) return { state: s, effects: [] };
  return { state: { ...s, claimsFailing: true }, effects: [{ kind: 'lockWaits', wait: false }] };
}

/** A claim went through: lock waits back on unless an outage keeps them off. */
export function claimWritten(s: JournalState): Step {
  if (!s.claimsFailing) return { state: s, effects: [] };
  return { state: { ...s, claimsFailing: false }, effects: s.phase === 'outage' ? [] : [{ kind: 'lockWaits', wait: true }] };
}

/** Shutdown begins: nothing more is sent or queued. */
export const close = (s: JournalState): JournalState => ({ ...s, closed: true });

/** Abandon all: at shutdown, once no write is under way, every write left goes to the dump. */
export function abandonAll(s: JournalState): Step {
  const effects: Effect[] = [];
  let state: JournalState = { ...s, queue: [], held: 0 };
  for (const h of s.queue) {
    answered(h, effects);
    state = discard(state, h.write, 'shutdown', effects, 'the database was still unavailable at shutdown');
  }
  return { state, effects };
}
