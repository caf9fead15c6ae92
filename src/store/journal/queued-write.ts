import { ownerOf, recordLabel, type AgentIdentity, type SkipReason } from '../../records.ts';
import { UNCLAIMED } from '../history/history-store.ts';
import type { AttemptEnd, CycleEnd, HistoryStore, NewAttempt, NewCycle } from '../port.ts';

/**
 * One write of the history store as a value, so the write queue can hold it, run it later, or print it. `temp` is
 * the provisional id (negative) a queued insert answered with; ids below 0 elsewhere refer to such inserts.
 */
export type Write =
  | { kind: 'claimCycle'; cycle: NewCycle; temp: number }
  | { kind: 'recordSkipped'; cycle: NewCycle; reason: SkipReason; error: string }
  | { kind: 'voidClaim'; cycle: NewCycle; error: string }
  | { kind: 'finishCycle'; id: number; end: CycleEnd }
  | { kind: 'startAttempt'; attempt: NewAttempt; temp: number }
  | { kind: 'finishAttempt'; id: number; end: AttemptEnd }
  | { kind: 'recoverInterrupted'; now: number; self: AgentIdentity; isAlive: (pid: number) => boolean };

/** The two tables whose rows get provisional ids. */
export type Table = 'cycle' | 'attempt';

/** Why a write left the queue unwritten: the `reason` of its JSON line. */
export type Unwritten = 'queue_full' | 'claim_conflict' | 'rejected' | 'shutdown';

/** The row a write inserts, under its provisional id. */
export const createdBy = (w: Write): { table: Table; temp: number } | undefined =>
  w.kind === 'claimCycle' ? { table: 'cycle', temp: w.temp } : w.kind === 'startAttempt' ? { table: 'attempt', temp: w.temp } : undefined;

/** The row a write needs to exist first (an attempt its cycle, a finish its start). */
export const referredBy = (w: Write): { table: Table; id: number } | undefined =>
  w.kind === 'finishCycle'
    ? { table: 'cycle', id: w.id }
    : w.kind === 'startAttempt'
      ? { table: 'cycle', id: w.attempt.cycleId }
      : w.kind === 'finishAttempt'
        ? { table: 'attempt', id: w.id }
        : undefined;

/** The row a finish ends: the last write that names it. */
export const finishedBy = (w: Write): { table: Table; id: number } | undefined =>
  w.kind === 'finishCycle' ? { table: 'cycle', id: w.id } : w.kind === 'finishAttempt' ? { table: 'attempt', id: w.id } : undefined;

/** What a queued write answers its caller at once: the provisional id of an insert, as if the write went well. */
export const provisionalResult = (w: Write): unknown =>
  w.kind === 'claimCycle' || w.kind === 'startAttempt' ? w.temp : w.kind === 'recordSkipped' ? true : w.kind === 'recoverInterrupted' ? 0 : undefined;

/** Runs the write on `store`, its references mapped to database ids by `dbId`. */
export function execute(store: HistoryStore, w: Write, dbId: (table: Table, id: number) => number): Promise<unknown> {
  switch (w.kind) {
    case 'claimCycle':
      return store.claimCycle(w.cycle);
    case 'recordSkipped':
      return store.recordSkipped(w.cycle, w.reason, w.error);
    case 'voidClaim':
      return store.voidClaim(w.cycle, w.error);
    case 'finishCycle':
      return store.finishCycle(dbId('cycle', w.id), w.end);
    case 'startAttempt':
      return store.startAttempt({ ...w.attempt, cycleId: dbId('cycle', w.attempt.cycleId) });
    case 'finishAttempt':
      return store.finishAttempt(dbId('attempt', w.id), w.end);
    case 'recoverInterrupted':
      return store.recoverInterrupted(w.now, w.self, w.isAlive);
  }
}

/** What a write costs beside its text: the object, its numbers, ids and times (measured order of magnitude). */
const WRITE_OVERHEAD_BYTES = 256;

/**
 * About how many bytes a queued write holds: its overhead and its texts, which are what can be large (Diego's
 * error and excerpt, the summary); two bytes a character, as a JS string may take. Cheap: no serialisation.
 */
export function weightOf(w: Write): number {
  const texts =
    w.kind === 'claimCycle' || w.kind === 'recordSkipped' || w.kind === 'voidClaim'
      ? [w.cycle.symbol, w.cycle.owner, ...(w.kind === 'recordSkipped' ? [w.reason, w.error] : w.kind === 'voidClaim' ? [w.error] : [])]
      : w.kind === 'finishCycle'
        ? [w.end.reason, w.end.error, w.end.summary]
        : w.kind === 'finishAttempt'
          ? [w.end.error, w.end.excerpt]
          : [];
  return WRITE_OVERHEAD_BYTES + 2 * texts.reduce((sum, t) => sum + (t?.length ?? 0), 0);
}

/** The record a write carries, as the JSON of its "unwritten record" line. */
export function recordOf(w: Write): Record<string, unknown> {
  switch (w.kind) {
    case 'claimCycle':
      return { cycle: recordLabel(w.temp), ...w.cycle, status: 'running' };
    case 'recordSkipped':
      return { ...w.cycle, status: 'skipped', reason: w.reason, error: w.error };
    case 'voidClaim':
      return { ...w.cycle, status: 'skipped', reason: UNCLAIMED, error: w.error };
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
