import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backoffDelay, RECONNECT_BACKOFF, type Backoff } from '../../src/time/backoff.ts';
import { systemClock } from '../../src/time/clock.ts';

const B: Backoff = { firstMs: 500, maxMs: 10_000, jitter: 0.2 };

test('backoffDelay without a draw is the exact capped doubling (what test clocks get)', () => {
  assert.deepEqual([1, 2, 3, 4, 5, 6, 7, 50].map((n) => backoffDelay(B, n)), [500, 1000, 2000, 4000, 8000, 10_000, 10_000, 10_000]);
  assert.equal(backoffDelay(B, 0), 500, 'a try count below 1 is the first wait');
  assert.equal(backoffDelay({ firstMs: 500, maxMs: 10_000 }, 3, () => 0.99), 2000, 'no jitter in the policy: the draw changes nothing');
});

test('backoffDelay with a draw only ever shortens a wait, by at most the jitter share, and follows the draw', () => {
  assert.equal(backoffDelay(B, 3, () => 0), 2000, 'a draw of 0: the full wait');
  assert.equal(backoffDelay(B, 3, () => 0.5), 1800);
  assert.equal(backoffDelay(B, 3, () => 0.999_999), 1600, 'the shortest: a fifth off');
  assert.equal(backoffDelay(B, 9, () => 0.5), 9000, 'the cap is cut too, never exceeded');
  for (let tries = 1; tries <= 8; tries++) {
    const exact = backoffDelay(B, tries);
    for (let i = 0; i < 200; i++) {
      const d = backoffDelay(B, tries, Math.random);
      assert.ok(d <= exact && d >= exact * 0.8 - 1, `try ${tries}: ${d} ms against ${exact}`);
    }
  }
});

test('the real clock draws, so replicas that failed together spread out; the shared policies have jitter', () => {
  assert.equal(typeof systemClock.random, 'function');
  const waits = new Set(Array.from({ length: 50 }, () => backoffDelay(RECONNECT_BACKOFF, 5, systemClock.random)));
  assert.ok(waits.size > 10, `${waits.size} distinct waits of 50`);
  assert.ok(RECONNECT_BACKOFF.jitter! > 0);
});
