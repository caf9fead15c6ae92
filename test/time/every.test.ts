import { test } from 'node:test';
import assert from 'node:assert/strict';
import { every, wakeable } from '../../src/time/every.ts';
import { fastClock, stillClock } from '../helpers/fast-clock.ts';
import { until } from '../helpers/wait.ts';

test('every: the chore after firstMs, then every intervalMs, until stopped', async () => {
  const clock = fastClock(0, { frozen: true });
  const stop = new AbortController();
  const at: number[] = [];
  await every(clock, stop.signal, 100, async () => {
    at.push(clock.now());
    if (at.length === 3) stop.abort();
  }, 10);
  assert.deepEqual(at, [10, 110, 210]);
});

test('wakeable: a wake during the wait runs the chore at once; a wake during the chore runs it once more right after; none is lost', async () => {
  const clock = stillClock(); // no wait ends by itself: every run below comes from a wake
  const stop = new AbortController();
  let runs = 0;
  let release: (() => void) | undefined;
  const loop = wakeable(clock, stop.signal, () => 500, async () => {
    runs++;
    if (runs === 2) await new Promise<void>((resolve) => (release = resolve));
  });
  await until(() => clock.sleeps.length === 1, 'the first wait');
  loop.wake();
  await until(() => runs === 1, 'the run a wake asked for');
  loop.wake();
  await until(() => release !== undefined, 'the second run to be under way');
  loop.wake(); // while it runs: two wakes, one more run
  loop.wake();
  release!();
  await until(() => runs === 3 && clock.sleeps.length === 3, 'one run more, then a wait');
  await new Promise((resolve) => setTimeout(resolve, 20));
  assert.equal(runs, 3);
  // A wait skipped for a wake that came during a run asks for no sleep: three waits for three runs and the first.
  assert.deepEqual(clock.sleeps, [500, 500, 500]);
  stop.abort();
  await loop.done;
});

test('wakeable: the interval is asked before each wait; stop ends a wait at once', async () => {
  const clock = stillClock();
  const stop = new AbortController();
  let interval = 250;
  const loop = wakeable(clock, stop.signal, () => interval, async () => {
    interval = 1000;
  });
  await until(() => clock.sleeps.length === 1, 'the first wait');
  loop.wake();
  await until(() => clock.sleeps.length === 2, 'the wait after the run');
  assert.deepEqual(clock.sleeps, [250, 1000]);
  stop.abort();
  await loop.done; // a still clock's wait ends only by its signal: stop reached it
});
