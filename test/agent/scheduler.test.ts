import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pattern } from '../helpers/cron.ts';
import { MAX_SLEEP_MS, planWake, runSchedule } from '../../src/agent/scheduler.ts';
import { fastClock, type FastClock } from '../helpers/fast-clock.ts';

// Daily patterns below are read in UTC; this file runs in its own process.
process.env.TZ = 'UTC';

const utc = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();
const T = utc('2024-01-20T10:00:00.250Z');
const sec = (s: number) => utc('2024-01-20T10:00:00Z') + s * 1000;

interface Run {
  clock: FastClock;
  fired: { slot: number; at: number }[];
  missed: [count: number, firstMissed: number, fired: number][];
  back: [now: number, lastFired: number][];
}

/** Runs the loop on a fast clock until `slots` slots fired; `onFire` may move the clock (a wall-clock jump). */
async function schedule(o: { text: string; start: number; slots: number; earlyMs?: number; onFire?: (n: number, clock: FastClock) => void }): Promise<Run> {
  const clock = fastClock(o.start, { earlyMs: o.earlyMs });
  const stop = new AbortController();
  const run: Run = { clock, fired: [], missed: [], back: [] };
  await runSchedule({
    cron: pattern(o.text),
    clock,
    after: o.start,
    signal: stop.signal,
    onSlot: (slot) => {
      run.fired.push({ slot, at: clock.now() });
      o.onFire?.(run.fired.length, clock);
      if (run.fired.length === o.slots) stop.abort();
    },
    onMissed: (count, firstMissed, fired) => run.missed.push([count, firstMissed, fired]),
    onClockBack: (now, lastFired) => run.back.push([now, lastFired]),
  });
  return run;
}

function assertEachSlotOnceNeverEarly(run: Run): void {
  const perSlot = new Map<number, number>();
  for (const { slot, at } of run.fired) {
    perSlot.set(slot, (perSlot.get(slot) ?? 0) + 1);
    assert.ok(at >= slot, `slot ${iso(slot)} fired early, at ${iso(at)}`);
  }
  for (const [slot, n] of perSlot) assert.equal(n, 1, `slot ${iso(slot)} fired ${n} times`);
  const slots = run.fired.map((f) => f.slot);
  assert.deepEqual(slots, [...slots].sort((a, b) => a - b), 'in order');
}

test('planWake fires the due slot when nothing was missed', () => {
  const every = pattern('* * * * * *');
  assert.deepEqual(planWake(every, sec(1), sec(1)), { fire: sec(1), missed: 0 });
  assert.deepEqual(planWake(every, sec(1), sec(1) + 999), { fire: sec(1), missed: 0 });
});

test('planWake fires only the newest due slot and counts the ones passed over', () => {
  const every = pattern('* * * * * *');
  assert.deepEqual(planWake(every, sec(1), sec(10) + 500), { fire: sec(10), missed: 9 });
  assert.deepEqual(planWake(every, sec(1), sec(2)), { fire: sec(2), missed: 1 });
  const minute = pattern('0 * * * * *');
  assert.deepEqual(planWake(minute, sec(60), sec(60 * 5 + 59)), { fire: sec(300), missed: 4 });
});

test('planWake stops counting one by one after a huge gap and fires the current slot', () => {
  const every = pattern('* * * * * *');
  const now = sec(86_400) + 123; // a day later
  const plan = planWake(every, sec(1), now);
  assert.equal(plan.fire, sec(86_400));
  assert.ok(plan.missed > 10_000, `missed ${plan.missed}`);
  assert.equal(plan.capped, true, 'a lower bound, said as such ("more than 10000")');
  assert.equal(planWake(every, sec(1), sec(10) + 500).capped, undefined, 'an exact count is not capped');
});

test('runSchedule fires each slot once, in order, never early', { timeout: 5000 }, async () => {
  const run = await schedule({ text: '* * * * * *', start: T, slots: 30 });
  assert.deepEqual(run.fired.map((f) => f.slot), Array.from({ length: 30 }, (_, i) => sec(i + 1)));
  assertEachSlotOnceNeverEarly(run);
  assert.deepEqual(run.missed, []);
  assert.deepEqual(run.back, []);
});

test('runSchedule on a */5 pattern fires only on multiples of 5 s', { timeout: 5000 }, async () => {
  const run = await schedule({ text: '*/5 * * * * *', start: T, slots: 6 });
  assert.deepEqual(run.fired.map((f) => f.slot), [5, 10, 15, 20, 25, 30].map(sec));
  assertEachSlotOnceNeverEarly(run);
});

test('a timer that wakes early re-arms instead of firing, and no slot fires twice', { timeout: 5000 }, async () => {
  const run = await schedule({ text: '* * * * * *', start: T, slots: 20, earlyMs: 1 });
  assert.deepEqual(run.fired.map((f) => f.slot), Array.from({ length: 20 }, (_, i) => sec(i + 1)));
  assertEachSlotOnceNeverEarly(run);
  // Proof that early wake-ups happened: each woke 1 ms short and asked for the last millisecond again.
  const rearms = run.clock.sleeps.filter((ms) => ms === 1).length;
  assert.ok(rearms >= 10, `only ${rearms} re-arms in ${run.clock.sleeps.length} sleeps`);
  assert.deepEqual(run.missed, []);
});

test('a long wait sleeps in steps of at most 30 s (a daily pattern)', { timeout: 5000 }, async () => {
  const start = utc('2024-01-20T00:00:01Z');
  const run = await schedule({ text: '0 0 0 * * *', start, slots: 2 });
  assert.deepEqual(run.fired.map((f) => iso(f.slot)), ['2024-01-21T00:00:00.000Z', '2024-01-22T00:00:00.000Z']);
  assertEachSlotOnceNeverEarly(run);
  assert.equal(MAX_SLEEP_MS, 30_000);
  assert.ok(run.clock.sleeps.every((ms) => ms > 0 && ms <= MAX_SLEEP_MS), `longest sleep ${Math.max(...run.clock.sleeps)}`);
  assert.ok(run.clock.sleeps.length >= (2 * 86_400_000) / MAX_SLEEP_MS - 1, `${run.clock.sleeps.length} sleeps`);
});

test('a forward wall-clock jump fires only the current slot and reports the ones missed', { timeout: 5000 }, async () => {
  const run = await schedule({
    text: '* * * * * *',
    start: T,
    slots: 6,
    onFire: (n, clock) => n === 3 && clock.jump(10_000), // at 10:00:03 the clock jumps to 10:00:13
  });
  assert.deepEqual(run.fired.map((f) => f.slot), [1, 2, 3, 13, 14, 15].map(sec));
  assertEachSlotOnceNeverEarly(run);
  assert.deepEqual(run.missed, [[9, sec(4), sec(13)]]);
  assert.deepEqual(run.back, []);
});

test('a forward jump of a day on an every-second pattern still fires one slot', { timeout: 5000 }, async () => {
  const run = await schedule({ text: '* * * * * *', start: T, slots: 3, onFire: (n, clock) => n === 1 && clock.jump(86_400_000) });
  assert.deepEqual(run.fired.map((f) => f.slot), [sec(1), sec(86_401), sec(86_402)]);
  assertEachSlotOnceNeverEarly(run);
  assert.equal(run.missed.length, 1);
  assert.ok(run.missed[0]![0] > 10_000);
  assert.deepEqual(run.missed[0]!.slice(1), [sec(2), sec(86_401)]);
});

test('a backward wall-clock jump fires no slot twice and reports the jump', { timeout: 5000 }, async () => {
  const run = await schedule({
    text: '* * * * * *',
    start: T,
    slots: 6,
    onFire: (n, clock) => n === 3 && clock.jump(-5_000), // at 10:00:03 the clock goes back to 09:59:58
  });
  assert.deepEqual(run.fired.map((f) => f.slot), [1, 2, 3, 4, 5, 6].map(sec));
  assertEachSlotOnceNeverEarly(run);
  assert.equal(run.back.length, 1);
  const [now, lastFired] = run.back[0]!;
  assert.equal(lastFired, sec(3));
  assert.ok(now >= sec(-2) && now < sec(-1), iso(now));
  assert.deepEqual(run.missed, []);
});

test('after an hour back, the loop waits in capped steps and reports the jump once', { timeout: 5000 }, async () => {
  const run = await schedule({ text: '* * * * * *', start: T, slots: 3, onFire: (n, clock) => n === 1 && clock.jump(-3_600_000) });
  assert.deepEqual(run.fired.map((f) => f.slot), [1, 2, 3].map(sec));
  assertEachSlotOnceNeverEarly(run);
  assert.equal(run.back.length, 1);
  assert.ok(run.clock.sleeps.every((ms) => ms <= MAX_SLEEP_MS));
  assert.ok(run.clock.sleeps.length >= 3_600_000 / MAX_SLEEP_MS);
});

test('a stop signal given before the start fires nothing', { timeout: 5000 }, async () => {
  const stop = new AbortController();
  stop.abort();
  const fired: number[] = [];
  await runSchedule({ cron: pattern('* * * * * *'), clock: fastClock(T), after: T, signal: stop.signal, onSlot: (s) => fired.push(s), onMissed: () => {} });
  assert.deepEqual(fired, []);
});

test('a stop during a wait ends the loop without firing the pending slot', { timeout: 5000 }, async () => {
  const stop = new AbortController();
  const fired: number[] = [];
  const clock = fastClock(T);
  // Stop from inside the first sleep, as a SIGTERM arriving while the loop waits would.
  const sleeping: typeof clock.sleep = (ms, signal) => {
    stop.abort();
    return clock.sleep(ms, signal);
  };
  await runSchedule({ cron: pattern('0 * * * * *'), clock: { now: clock.now, sleep: sleeping }, after: T, signal: stop.signal, onSlot: (s) => fired.push(s), onMissed: () => {} });
  assert.deepEqual(fired, []);
  assert.equal(clock.sleeps.length, 1);
});

/** Prepares slot sec(1), then moves the clock back by `backMs` inside its prepare window; stops after `stopAfter` sleeps. */
async function stepBackWhilePrepared(backMs: number, stopAfterSleeps: number) {
  const clock = fastClock(sec(1) - 50);
  const stop = new AbortController();
  const seen = { prepared: [] as number[], fired: [] as number[], released: [] as [number, number][], back: [] as number[] };
  const sleep = clock.sleep;
  let sleeps = 0;
  clock.sleep = async (ms, signal) => {
    if (++sleeps === 1) clock.jump(-backMs); // the prepare window's wait: the step lands in it
    if (sleeps > stopAfterSleeps) stop.abort();
    return sleep(ms, signal);
  };
  await runSchedule({
    cron: pattern('* * * * * *'),
    clock,
    after: sec(0),
    signal: stop.signal,
    onPrepare: (slot) => seen.prepared.push(slot),
    onSlot: (slot) => {
      seen.fired.push(slot);
      stop.abort();
    },
    onMissed: () => {},
    onClockBack: (now) => seen.back.push(now),
    onReleased: (slot, now) => seen.released.push([slot, now]),
  });
  return { ...seen, stopped: stop.signal.aborted };
}

test('a prepared slot whose moment the wall clock moved more than MAX_SLEEP_MS ahead is released, and never fires', async () => {
  const r = await stepBackWhilePrepared(3_600_000, 5);
  assert.deepEqual(r.prepared, [sec(1)]);
  assert.deepEqual(r.released.map(([slot]) => slot), [sec(1)]);
  assert.ok(r.released[0]![1] < sec(1) - 3_599_000);
  assert.deepEqual(r.fired, [], 'nothing fires before the wall clock reaches a new slot');
  assert.equal(r.back.length, 1, 'the wait that follows is logged as a clock going back');
});

test('a prepared slot moved less than MAX_SLEEP_MS ahead stays prepared; a stop in its wait fires nothing', async () => {
  const r = await stepBackWhilePrepared(20_000, 1);
  assert.deepEqual(r.prepared, [sec(1)], 'prepared once, not again');
  assert.deepEqual(r.released, []);
  assert.deepEqual(r.fired, [], 'stopped before its slot: not fired');
  assert.equal(r.back.length, 1);
  assert.ok(r.stopped);
});

test('a prepared slot moved less than MAX_SLEEP_MS ahead fires once when the wall clock reaches it again', async () => {
  const r = await stepBackWhilePrepared(20_000, 1000);
  assert.deepEqual(r.prepared, [sec(1)]);
  assert.deepEqual(r.fired, [sec(1)]);
  assert.deepEqual(r.released, []);
});
