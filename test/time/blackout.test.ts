import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blackoutAt, nextBlackouts, parseBlackout, type BlackoutWindow } from '../../src/time/blackout.ts';

// EXECUTION_BLACKOUT's date math: pure, so exact at every edge. Times are built in local time, as the patterns run.

const windows = (text: string): BlackoutWindow[] => {
  const r = parseBlackout(text);
  assert.ok('windows' in r, JSON.stringify(r));
  return r.windows;
};
const local = (y: number, mo: number, d: number, h: number, mi: number, s = 0) => new Date(y, mo - 1, d, h, mi, s).getTime();

test('blackout: a window holds from its match (included) for its duration (end excluded)', () => {
  const w = windows('0 55 7 * * 1-5 10m');
  const mon = local(2024, 1, 22, 7, 55); // a Monday
  assert.equal(blackoutAt(w, mon - 1), undefined, 'a millisecond before the match: execution on');
  assert.equal(blackoutAt(w, mon)?.from, mon, 'at the match: off');
  assert.equal(blackoutAt(w, mon + 10 * 60_000 - 1)?.until, mon + 10 * 60_000, 'the last millisecond: still off');
  assert.equal(blackoutAt(w, mon + 10 * 60_000), undefined, 'at its end: on again');
  assert.equal(blackoutAt(w, local(2024, 1, 27, 7, 58)), undefined, 'Saturday is not in 1-5');
});

test('blackout: several windows separated by ";", 5 or 6 fields, the one that ends last wins an overlap', () => {
  const w = windows(' 0 0 0 * * 0 30m ;0 0 * * * 2h; ');
  assert.equal(w.length, 2);
  const sunday = local(2024, 1, 21, 0, 10);
  const b = blackoutAt(w, sunday);
  assert.equal(b?.window.text, '0 0 * * * 2h', 'the 2 h window from midnight ends after the 30 min one');
  assert.equal(b?.until, local(2024, 1, 21, 2, 0));
  assert.equal(blackoutAt(w, local(2024, 1, 22, 1, 59, 59))?.window.text, '0 0 * * * 2h');
});

test('blackout: the next windows to begin, soonest first', () => {
  const w = windows('0 55 7 * * 1-5 10m; 0 0 0 * * 0 30m');
  const next = nextBlackouts(w, local(2024, 1, 19, 12, 0), 3); // a Friday noon
  assert.deepEqual(next.map((b) => b.from), [local(2024, 1, 21, 0, 0), local(2024, 1, 22, 7, 55), local(2024, 1, 23, 7, 55)]);
  assert.deepEqual(nextBlackouts([], 0, 3), []);
});

test('blackout: what is refused, with why', () => {
  for (const [text, why] of [
    ['0 55 7 * * 1-5', /does not end with a duration/],
    ['0 55 7 * * 1-5 0s', /does not end with a duration/],
    ['10m', /does not end with a duration/],
    ['0 61 7 * * * 10m', /is not a cron pattern/],
    ['0 0 31 9 * 1h', /is not a cron pattern .*never fires/],
    ['0 0 * * * 10x', /does not end with a duration/],
  ] as const) {
    const r = parseBlackout(text);
    assert.ok('error' in r && why.test(r.error), `${text}: ${JSON.stringify(r)}`);
  }
  assert.deepEqual(parseBlackout(''), { windows: [] });
});
