import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Write } from '../../src/store/journal/queued-write.ts';
import * as J from '../../src/store/journal/state.ts';

// The write queue's pure state (src/store/journal/state.ts): every transition and the effects it asks for, with no
// database, no clock and no promise.

const T = Date.parse('2024-01-20T10:00:00Z');
const LIMITS = { count: 100, bytes: 1 << 20 };
const cycle = (n: number) => ({ symbol: 'BTC/USDT', timeframe: '1m', trigger: 'schedule' as const, scheduledAt: T + n * 1000, deadlineAt: T + n * 1000 + 1000, startedAt: T + n * 1000, idempotencyKey: `k-${n}`, owner: 'h:1' });
/** One whole cycle under provisional ids −n: claim, attempt, their ends. */
const whole = (n: number): Write[] => [
  { kind: 'claimCycle', cycle: cycle(n), temp: -n },
  { kind: 'startAttempt', attempt: { cycleId: -n, number: 1, requestId: `r-${n}`, startedAt: T + n * 1000 }, temp: -n },
  { kind: 'finishAttempt', id: -n, end: { finishedAt: T + n * 1000 + 5, durationMs: 5, outcome: 'ok', httpStatus: 200 } },
  { kind: 'finishCycle', id: -n, end: { finishedAt: T + n * 1000 + 6, status: 'succeeded', attempts: 1, executed: false } },
];
const kinds = (effects: J.Effect[]) => effects.map((e) => e.kind);

/** Enqueues each write (10 bytes) and returns the state, every effect, and whether each was answered at once. */
function enqueueAll(s: J.JournalState, writes: Write[], limits = LIMITS) {
  const effects: J.Effect[] = [];
  const provisional: boolean[] = [];
  for (const w of writes) {
    const step = J.enqueue(s, w, 10, limits);
    s = step.state;
    effects.push(...step.effects);
    provisional.push(step.provisional);
  }
  return { state: s, effects, provisional };
}

test('healthy: a write waits for its real result, and flushed answers it; nothing is said of an outage', () => {
  const { state, effects, provisional } = enqueueAll(J.initialState(), [whole(1)[0]!]);
  assert.deepEqual([state.phase, state.queue.length, state.held, effects, provisional], ['healthy', 1, 10, [], [false]]);
  const done = J.flushed(J.sending(state), 41);
  assert.deepEqual(done.effects, [{ kind: 'answer', seq: 1, value: 41 }]);
  assert.deepEqual([done.state.queue.length, done.state.held, done.state.executing, done.state.phase], [0, 0, false, 'healthy']);
});

test('failed: the first storage fault begins the outage (callers answered provisionally, writes kept aside, lock waits off); later faults only go on', () => {
  let s = enqueueAll(J.initialState(), whole(1).slice(0, 2)).state;
  const began = J.failed(J.sending(s), new Error('locked'));
  assert.deepEqual(kinds(began.effects), ['outageBegins', 'keepAside', 'answer', 'keepAside', 'answer', 'lockWaits']);
  assert.deepEqual(began.effects.filter((e) => e.kind === 'answer'), [{ kind: 'answer', seq: 1, value: -1 }, { kind: 'answer', seq: 2, value: -1 }]);
  assert.deepEqual(began.effects.at(-1), { kind: 'lockWaits', wait: false });
  s = began.state;
  assert.deepEqual([s.phase, s.failedTries, s.aside, s.executing, s.queue.every((h) => !h.awaited)], ['outage', 1, 'holding', false, true]);
  const again = J.failed(J.sending(s), new Error('locked'));
  assert.deepEqual([kinds(again.effects), again.state.failedTries], [['outageGoesOn'], 2]);

  // During the outage a new write is answered at once and kept aside before its caller goes on.
  const during = J.enqueue(again.state, whole(1)[2]!, 10, LIMITS);
  assert.deepEqual([during.provisional, kinds(during.effects)], [true, ['keepAside']]);
});

test('flushed during an outage: provisional ids map to real ones; the last write ends the outage (lock waits on, side file cleared)', () => {
  let s = J.failed(J.sending(enqueueAll(J.initialState(), whole(1)).state), new Error('locked')).state;
  const results = [7, 70, undefined, undefined];
  const said: J.Effect[] = [];
  for (const r of results) {
    const step = J.flushed(J.sending(s), r);
    s = step.state;
    said.push(...step.effects);
    if (r === 7) assert.equal(J.databaseId(s, 'cycle', -1), 7);
    if (r === 70) assert.equal(J.databaseId(s, 'attempt', -1), 70);
  }
  assert.deepEqual(kinds(said), ['writtenLate', 'recorded', 'writtenLate', 'writtenLate', 'writtenLate', 'lockWaits', 'clearAside', 'outageEnds']);
  assert.deepEqual([s.phase, s.failedTries, s.aside, s.realIds.cycle.size, s.realIds.attempt.size], ['healthy', 0, 'unused', 0, 0], 'finishes forget their mappings');
});

test('a queued claim found taken by another agent: the cycle is abandoned whole, and a later write of it goes straight to the dump', () => {
  let s = J.failed(J.sending(enqueueAll(J.initialState(), whole(1).slice(0, 3)).state), new Error('locked')).state;
  const taken = J.flushed(J.sending(s), undefined);
  assert.deepEqual(kinds(taken.effects), ['writtenLate', 'conflict', 'dump', 'dump', 'dump', 'lockWaits', 'clearAside', 'outageEnds']);
  assert.deepEqual(taken.effects.filter((e) => e.kind === 'dump').map((e) => e.kind === 'dump' && [e.write.kind, e.reason]), [['claimCycle', 'claim_conflict'], ['startAttempt', 'claim_conflict'], ['finishAttempt', 'claim_conflict']]);
  s = taken.state;
  assert.equal(s.queue.length, 0);
  const late = J.enqueue(s, whole(1)[3]!, 10, LIMITS);
  assert.deepEqual([late.provisional, late.seq, late.effects], [true, undefined, [{ kind: 'dump', write: whole(1)[3], reason: 'claim_conflict', detail: 'the row it refers to was not written' }]]);
  assert.equal(late.state.lostIds.cycle.size, 0, 'the finish was the last write naming the cycle');
});

test('make room: the oldest cycle is dropped whole, never the write under way, within the count and the bytes', () => {
  const first = J.sending(enqueueAll(J.initialState(), whole(1)).state); // cycle 1's claim is with the database
  const full = enqueueAll(first, [...whole(2), ...whole(3)], { count: 9, bytes: 1 << 20 });
  // 4 + 4 fit, then cycle 3's claim; its attempt needs room: the oldest write not under way is cycle 1's attempt,
  // which takes its finish along (2 dropped); cycle 3's finish then drops cycle 1's finish (1 dropped).
  assert.deepEqual(full.state.queue.map((h) => h.write.kind + (h.write.kind === 'claimCycle' ? h.write.temp : '')), ['claimCycle-1', 'claimCycle-2', 'startAttempt', 'finishAttempt', 'finishCycle', 'claimCycle-3', 'startAttempt', 'finishAttempt', 'finishCycle']);
  assert.deepEqual(full.effects.filter((e) => e.kind !== 'answer').map((e) => (e.kind === 'dropped' ? e.count : e.kind)), ['dump', 'dump', 2, 'dump', 1]);
  assert.equal(full.state.held, 90);

  const bytes = enqueueAll(J.initialState(), [...whole(1), ...whole(2)], { count: 100, bytes: 50 });
  assert.deepEqual([bytes.state.queue.length, bytes.state.held], [4, 40], 'the byte bound drops cycle 1 whole (its claim takes its dependents along)');
  assert.deepEqual(bytes.effects.filter((e) => e.kind === 'dropped'), [{ kind: 'dropped', count: 4 }]);
});

test('claims: a failed claim turns lock waits off once; a written one turns them on unless an outage keeps them off', () => {
  const failing = J.claimFailed(J.initialState());
  assert.deepEqual([failing.effects, J.claimFailed(failing.state).effects], [[{ kind: 'lockWaits', wait: false }], []]);
  assert.deepEqual(J.claimWritten(failing.state).effects, [{ kind: 'lockWaits', wait: true }]);
  const inOutage = { ...failing.state, phase: 'outage' as const };
  assert.deepEqual([J.claimWritten(inOutage).effects, J.claimWritten(inOutage).state.claimsFailing], [[], false]);
  // An outage that ends while claims still fail leaves lock waits off.
  const s = J.failed(J.sending(enqueueAll(J.claimFailed(J.initialState()).state, [whole(1)[0]!]).state), new Error('x')).state;
  assert.ok(!kinds(J.flushed(J.sending(s), 5).effects).includes('lockWaits'));
});

test('shutdown: after close every arrival goes to the dump, and abandon all answers and dumps what is left', () => {
  const s = J.close(J.failed(J.sending(enqueueAll(J.initialState(), whole(1).slice(0, 2)).state), new Error('x')).state);
  const late = J.enqueue(s, whole(2)[0]!, 10, LIMITS);
  assert.deepEqual([late.provisional, late.effects.map((e) => e.kind === 'dump' && e.reason)], [true, ['shutdown']]);
  const left = J.abandonAll(s);
  assert.deepEqual(left.effects.map((e) => e.kind === 'dump' && [e.write.kind, e.reason]), [['claimCycle', 'shutdown'], ['startAttempt', 'shutdown']]);
  assert.deepEqual([left.state.queue.length, left.state.held], [0, 0]);
});

test('refused: a bug rejects the waiting caller; a write already answered is abandoned with its dependents', () => {
  const healthy = J.refused(J.sending(enqueueAll(J.initialState(), [whole(1)[0]!]).state), new Error('bug'), 'bug');
  assert.deepEqual(kinds(healthy.effects), ['reject']);
  const queued = J.failed(J.sending(enqueueAll(J.initialState(), whole(1).slice(0, 2)).state), new Error('x')).state;
  const out = J.refused(J.sending(queued), new Error('bug'), 'bug');
  assert.deepEqual(kinds(out.effects), ['refused', 'dump', 'dump']);
  assert.equal(out.state.queue.length, 0);
});

test('the side file: after a failed append nothing more is kept aside until the outage ends', () => {
  const s = J.asideFailed(J.failed(J.sending(enqueueAll(J.initialState(), [whole(1)[0]!]).state), new Error('x')).state);
  assert.deepEqual(kinds(J.enqueue(s, whole(1)[1]!, 10, LIMITS).effects), []);
  assert.deepEqual(kinds(J.flushed(J.sending(s), 3).effects), ['writtenLate', 'recorded', 'lockWaits', 'clearAside', 'outageEnds']);
});
