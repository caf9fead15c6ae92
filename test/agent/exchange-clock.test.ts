import assert from 'node:assert/strict';
import test from 'node:test';
import { createExchangeClock, MAX_TIME_BYTES, sampleExchangeTime, TIME_TIMEOUT_MS } from '../../src/agent/upkeep/exchange-clock.ts';
import { systemClock, type Clock } from '../../src/time/clock.ts';
import { combineSamples, exchangeSample, FALLBACK_AFTER, FIRE_CLOCK_UNREAD, fireClockStep, fireOffsetOf, shiftedClock, type ExchangeSample } from '../../src/time/exchange-time.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { freePort } from '../helpers/diego-stub.ts';
import { scene } from '../helpers/scene.ts';

// Issue 23 §1: the exchange's clock, measured like NTP over HTTP against a fake exchange time server on 127.0.0.1.

const never = new AbortController().signal;
const s = (offsetMs: number, rttMs: number): ExchangeSample => ({ offsetMs, rttMs, floorMs: offsetMs - rttMs / 2 });

test('a sample: the server time against the midpoint of the round trip, its floor against the receive stamp; a time hours off is refused', () => {
  assert.deepEqual(exchangeSample(1000, 1710, 1020), { offsetMs: 700, rttMs: 20, floorMs: 690 });
  const years = exchangeSample(Date.UTC(2027, 0, 1), Date.UTC(2024, 0, 1), Date.UTC(2027, 0, 1) + 2);
  assert.ok('error' in years && /is -\d+ s from ours, more than 1 h: refused$/.test(years.error), JSON.stringify(years));
  const seconds = exchangeSample(1_700_000_000_000, 1_700_000_000, 1_700_000_000_002);
  assert.ok('error' in seconds && seconds.error.endsWith('(seconds, not milliseconds?): refused'), JSON.stringify(seconds));
});

test('samples combined: long round trips discarded (over 1 s, or over twice the shortest + 2 ms), the median of the rest', () => {
  const r = combineSamples([s(700, 1), s(702, 2), s(650, 40), s(701, 1.5), s(900, 1200)]);
  assert.ok(!('error' in r));
  assert.deepEqual([r.offsetMs, r.floorMs, r.rttMs, r.kept, r.discarded], [701, 701, 1, 3, 2], 'the floor: the highest of the kept floors (702 − 2/2), at most the median');
  const liar = combineSamples([s(700, 1), s(701, 1), s(5700, 1)]);
  assert.ok(!('error' in liar) && liar.floorMs === 701, 'one answer far ahead cannot raise the floor above the median offset');
  assert.deepEqual(combineSamples([s(700, 1500)]), { error: 'every round trip took over 1000 ms' });
  assert.deepEqual(combineSamples([]), { error: 'no sample' });
});

test('the fire clock keeps the last good offset for three failed checks, then falls back to ours; a reading brings it back', () => {
  let st = fireClockStep(FIRE_CLOCK_UNREAD, undefined, 0);
  assert.deepEqual([st.next.kind, st.change, fireOffsetOf(st.next)], ['unread', undefined, 0], 'never read: ours');
  st = fireClockStep(st.next, { floorMs: 699 }, 1);
  assert.equal(st.change, 'back', 'a start whose first check failed: back on the exchange, said');
  st = fireClockStep(FIRE_CLOCK_UNREAD, { floorMs: 699 }, 1);
  assert.deepEqual([st.next.kind, st.change, fireOffsetOf(st.next)], ['exchange', undefined, 699], 'a normal start: nothing to say');
  let state = st.next;
  for (let i = 1; i < FALLBACK_AFTER; i++) {
    const f = fireClockStep(state, undefined, 1 + i);
    assert.deepEqual([f.change, fireOffsetOf(f.next)], [undefined, 699], `failure ${i}: the last offset stays`);
    state = f.next;
  }
  const fell = fireClockStep(state, undefined, 10);
  assert.deepEqual([fell.next.kind, fell.change, fireOffsetOf(fell.next)], ['fallback', 'fallback', 0]);
  const back = fireClockStep(fell.next, { floorMs: 650 }, 11);
  assert.deepEqual([back.next.kind, back.change, fireOffsetOf(back.next)], ['exchange', 'back', 650]);
});

test('the shifted clock: now is ours plus the offset, read at each call; waitUntil waits on ours for the shifted moment', async () => {
  let offset = 700;
  const asked: number[] = [];
  const base: Clock = { now: () => 10_000, sleep: async () => {}, waitUntil: async (at) => void asked.push(at) };
  const shifted = shiftedClock(base, () => offset);
  assert.equal(shifted.now(), 10_700);
  await shifted.waitUntil!(11_000);
  offset = -50;
  assert.equal(shifted.now(), 9_950);
  await shifted.waitUntil!(11_000);
  assert.deepEqual(asked, [10_300, 11_050]);
});

test('one sample from a fake exchange 700 ms ahead: offset within the round trip of 700, the floor never above it', async (ctx) => {
  const ex = await scene(ctx).exchange({ offsetMs: 700 });
  for (let i = 0; i < 10; i++) {
    const got = await sampleExchangeTime({ url: ex.url, field: ['serverTime'] }, systemClock, never);
    assert.ok(!('error' in got), JSON.stringify(got));
    assert.ok(Math.abs(got.offsetMs - 700) <= got.rttMs / 2 + 1, JSON.stringify(got));
    assert.ok(got.floorMs <= 700, `never early: the floor ${got.floorMs} is at most the true offset`);
  }
});

test('bad answers: each a one-line reason, never a throw, never a sample', async (ctx) => {
  const ex = await scene(ctx).exchange();
  const read = (url = ex.url, field = ['serverTime']) => sampleExchangeTime({ url, field }, systemClock, never);
  const cases: [typeof ex.mode, RegExp][] = [
    ['garbage', /^the answer is not JSON$/],
    ['huge', new RegExp(`^an answer larger than ${MAX_TIME_BYTES} bytes$`)],
    ['redirect', /^a redirect \(HTTP 302\), not followed/],
    ['years', /from ours, more than 1 h: refused$/],
    ['seconds', /\(seconds, not milliseconds\?\): refused$/],
    ['http500', /^HTTP 500$/],
  ];
  for (const [mode, expected] of cases) {
    ex.mode = mode;
    const got = await read();
    assert.ok('error' in got && expected.test(got.error), `${mode}: ${JSON.stringify(got)}`);
  }
  ex.mode = 'ok';
  const wrongField = await read(ex.url, ['data', 'time']);
  assert.deepEqual(wrongField, { error: 'no time (a number of ms) at /data/time in the answer' });
  const closed = await read(`http://127.0.0.1:${await freePort()}/api/v3/time`);
  assert.ok('error' in closed && /ECONNREFUSED|connect/.test(closed.error), JSON.stringify(closed));
  ex.mode = 'slow';
  const t0 = Date.now();
  const slow = await read();
  assert.deepEqual(slow, { error: `no answer within ${TIME_TIMEOUT_MS} ms` });
  assert.ok(Date.now() - t0 < TIME_TIMEOUT_MS + 1500, 'bounded by the timeout');
});

test('the exchange clock: five samples with jitter give +700 ms; unreadable three checks in a row falls back loudly, then comes back', async (ctx) => {
  const ex = await scene(ctx).exchange({ offsetMs: 700, jitterMs: 4 });
  const log = captureLog();
  const changes: string[] = [];
  const reads: number[] = [];
  const clock = createExchangeClock({ url: ex.url, field: ['serverTime'], fireClock: 'exchange' }, { clock: systemClock, log, stop: never, events: { read: (r) => reads.push(r.offsetMs), fireClock: (c, line) => changes.push(`${c}: ${line}`) } });
  const r = await clock.source.measure();
  assert.ok(Math.abs(r.offsetMs - 700) < 5, `median offset ${r.offsetMs}`);
  assert.ok(clock.fireOffset() <= 700 && clock.fireOffset() > 690, `fire offset ${clock.fireOffset()}: at most the true one`);
  ex.mode = 'garbage';
  for (let i = 1; i <= FALLBACK_AFTER; i++) await assert.rejects(clock.source.measure(), /the answer is not JSON/);
  assert.equal(clock.fireOffset(), 0, 'fell back to the local clock');
  assert.equal(changes.length, 1);
  assert.match(changes[0]!, /^fallback: FIRE_CLOCK=exchange: the exchange http:\/\/127\.0\.0\.1:\d+\/api\/v3\/time could not be read at 3 clock checks in a row \(the answer is not JSON\); slots fall back to the local clock/);
  assert.equal(log.err.filter((l) => l.includes('could not be read (the answer is not JSON)')).length, 1, 'the same reason is warned once');
  ex.mode = 'ok';
  await clock.source.measure();
  assert.ok(clock.fireOffset() > 690, 'back on the exchange');
  assert.match(changes[1] ?? '', /^back: .* answers again; slots are back on the exchange's clock/);
  assert.equal(reads.length, 2);
});
