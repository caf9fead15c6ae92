import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decideSlot, stricter, executionOffOf, freshness, maxLatenessOf, type SlotFacts } from '../../src/agent/slot-decision.ts';
import { holdsAt, type Pause } from '../../src/control/state.ts';

// The one slot decision (issue 21 item 2), pure: each check in its order, at fixed times.

const T = Date.UTC(2024, 0, 22, 10, 0, 0);
const p = (over: Partial<Pause>): Pause => ({ symbol: '*', scope: 'cycles', reason: 'why', by: 'alice', since: T - 1000, until: null, abort: false, auditId: 1, ...over });
const facts = (over: Partial<SlotFacts> = {}): SlotFacts => ({ symbol: 'BTC/USDT', at: T, pauses: [], overlap: false, clock: { blocked: false }, stopping: false, triggerExecution: true, ...over });

test('decideSlot: the stop, a pause, the overlap, the clock, then the execution flag, in that order', () => {
  const clock = { blocked: true, reason: 'clock_unchecked', why: 'no check yet' } as const;
  assert.equal((decideSlot(facts({ stopping: true, overlap: true, clock })) as { reason: string }).reason, 'shutdown');
  assert.deepEqual(decideSlot(facts({ pauses: [p({})], overlap: true })), { kind: 'skip', reason: 'paused', why: 'paused by alice: why' });
  assert.equal((decideSlot(facts({ overlap: true, clock })) as { reason: string }).reason, 'overlap');
  assert.deepEqual(decideSlot(facts({ clock })), { kind: 'skip', reason: 'clock_unchecked', why: 'no check yet' });
  assert.deepEqual(decideSlot(facts()), { kind: 'fire', execution: true });
  assert.deepEqual(decideSlot(facts({ pauses: [p({ scope: 'execution' })] })), { kind: 'fire', execution: false, why: 'execution paused by alice: why' });
  assert.deepEqual(decideSlot(facts({ executionBlackout: (t) => (t === T ? 'blackout 07:55' : undefined) })), { kind: 'fire', execution: false, why: 'blackout 07:55' });
  const configured = decideSlot(facts({ triggerExecution: false }));
  assert.equal(configured.kind === 'fire' && configured.execution, false);
  assert.equal(executionOffOf(configured), undefined, 'TRIGGER_EXECUTION=false is the setting, not a pause: nothing recorded');
});

test('decideSlot: a pause holds from its since (a planned window) until its until; another symbol is not held', () => {
  assert.equal(decideSlot(facts({ pauses: [p({ since: T + 1 })] })).kind, 'fire', 'not begun');
  assert.equal(decideSlot(facts({ pauses: [p({ since: T })] })).kind, 'skip', 'begins at T');
  assert.equal(decideSlot(facts({ pauses: [p({ until: T })] })).kind, 'fire', 'ended at T');
  assert.equal(decideSlot(facts({ pauses: [p({ symbol: 'ETH/USDT' })] })).kind, 'fire');
  assert.ok(holdsAt({ since: T, until: null }, T) && !holdsAt({ since: T, until: null }, T - 1));
});

test('decideSlot: a retry under pause --execution goes analysis-only; with --abort it is cut when it went out with execution on', () => {
  const off = [p({ scope: 'execution' })];
  const cut = [p({ scope: 'execution', abort: true })];
  assert.deepEqual(decideSlot(facts({ pauses: off, inFlight: { executionOn: true } })), { kind: 'fire', execution: false, why: 'execution paused by alice: why' });
  assert.equal(decideSlot(facts({ pauses: cut, inFlight: { executionOn: true } })).kind, 'skip');
  assert.equal(decideSlot(facts({ pauses: cut, inFlight: { executionOn: false } })).kind, 'fire', 'already analysis-only: retried as such');
  assert.equal(decideSlot(facts({ clock: { blocked: true, reason: 'clock_skew', why: 'x' }, inFlight: { executionOn: true } })).kind, 'fire', "a retry is no new slot: the clock's verdict was the slot's");
});

test('stricter: a skip over a fire, execution off over on', () => {
  const on = { kind: 'fire', execution: true } as const;
  const off = { kind: 'fire', execution: false, why: 'kill switch' } as const;
  const skip = { kind: 'skip', reason: 'paused', why: 'paused' } as const;
  assert.deepEqual(stricter(on, off), off);
  assert.deepEqual(stricter(off, on), off);
  assert.deepEqual(stricter(on, skip), skip);
  assert.deepEqual(stricter(skip, off), skip);
  assert.deepEqual(stricter(on, on), on);
});

test('freshness (issue 23 §3): late only past the limit; no limit, never late; the default limit is half the gap to the next slot', () => {
  assert.deepEqual(freshness(10_000, 10_300, 300), { kind: 'fresh' }, 'exactly at the limit still leaves');
  assert.deepEqual(freshness(10_000, 10_301, 300), { kind: 'late', lateMs: 301, limitMs: 300 });
  assert.deepEqual(freshness(10_000, 99_000, undefined), { kind: 'fresh' }, 'a startup cycle has no limit');
  assert.deepEqual(freshness(10_000, 9_000, 1), { kind: 'fresh' }, 'early is never late');
  assert.equal(maxLatenessOf(60_000, 120_000, undefined), 30_000, 'every minute: 30 s');
  assert.equal(maxLatenessOf(1000, 2000, undefined), 500, 'every second: 500 ms');
  assert.equal(maxLatenessOf(0, 1, undefined), 1, 'never below 1 ms');
  assert.equal(maxLatenessOf(60_000, 120_000, 250), 250, 'MAX_LATENESS_MS wins');
});
