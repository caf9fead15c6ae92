import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CANDLE_MS, candlePattern, isSlotOf, isTimeframe, latestClose, nextClose, TIMEFRAMES, unionPattern } from '../../src/time/candles.ts';
import { pattern } from '../helpers/cron.ts';

// Candle closes are UTC whatever the zone: this file runs in its own process, in a zone 5:45 ahead of UTC with no
// whole-hour offset, where a local-time cron pattern such as `0 0 * * * *` would fire at :15 UTC.
process.env.TZ = 'Asia/Kathmandu';

const utc = (iso: string) => Date.parse(iso);
const iso = (ms: number) => new Date(ms).toISOString();

/** The first `n` closes of the pattern after `from`. */
function closes(next: (after: number) => number, from: number, n: number): string[] {
  const out: string[] = [];
  for (let at = from; out.length < n; ) out.push(iso((at = next(at))));
  return out;
}

test('the zone is really Asia/Kathmandu (else UTC alignment is proved nowhere)', () => {
  assert.equal(new Date(utc('2024-01-20T10:00:00Z')).getTimezoneOffset(), -345);
});

test("the accepted timeframes are Binance's from a minute to a day, each dividing a day; the rest are refused", () => {
  assert.deepEqual(TIMEFRAMES, ['1m', '3m', '5m', '15m', '30m', '1h', '2h', '4h', '6h', '8h', '12h', '1d']);
  for (const t of TIMEFRAMES) assert.equal(CANDLE_MS['1d'] % CANDLE_MS[t], 0, `${t} divides a day, so its closes include 00:00 UTC`);
  for (const bad of ['1s', '2m', '10m', '3h', '3d', '1w', '1M', '1H', '01m', ' 1m', '', 'toString', '__proto__']) assert.equal(isTimeframe(bad), false, bad);
});

test('each timeframe closes on its own boundaries in UTC: 1m at second 0, 5m every fifth minute, 1h on the hour, 4h from 00:00, 1d at 00:00', () => {
  const from = utc('2024-01-20T10:02:30.250Z');
  assert.deepEqual(closes((a) => nextClose('1m', 0, a), from, 3), ['2024-01-20T10:03:00.000Z', '2024-01-20T10:04:00.000Z', '2024-01-20T10:05:00.000Z']);
  assert.deepEqual(closes((a) => nextClose('5m', 0, a), from, 3), ['2024-01-20T10:05:00.000Z', '2024-01-20T10:10:00.000Z', '2024-01-20T10:15:00.000Z']);
  assert.deepEqual(closes((a) => nextClose('15m', 0, a), from, 2), ['2024-01-20T10:15:00.000Z', '2024-01-20T10:30:00.000Z']);
  assert.deepEqual(closes((a) => nextClose('1h', 0, a), from, 2), ['2024-01-20T11:00:00.000Z', '2024-01-20T12:00:00.000Z']);
  assert.deepEqual(closes((a) => nextClose('4h', 0, a), from, 4), ['2024-01-20T12:00:00.000Z', '2024-01-20T16:00:00.000Z', '2024-01-20T20:00:00.000Z', '2024-01-21T00:00:00.000Z']);
  assert.deepEqual(closes((a) => nextClose('12h', 0, a), from, 2), ['2024-01-20T12:00:00.000Z', '2024-01-21T00:00:00.000Z']);
  assert.deepEqual(closes((a) => nextClose('1d', 0, a), from, 2), ['2024-01-21T00:00:00.000Z', '2024-01-22T00:00:00.000Z']);
  // A leap day and a year's end are days like the others.
  assert.deepEqual(closes((a) => nextClose('1d', 0, a), utc('2024-02-28T23:59:59.999Z'), 3), ['2024-02-29T00:00:00.000Z', '2024-03-01T00:00:00.000Z', '2024-03-02T00:00:00.000Z']);
  assert.equal(nextClose('8h', 0, utc('2024-12-31T16:00:00Z')), utc('2025-01-01T00:00:00Z'));
});

test('next is strictly after (a close asked at its own moment gives the following one); latest is at or before', () => {
  const close = utc('2024-01-20T10:05:00Z');
  assert.equal(nextClose('5m', 0, close), utc('2024-01-20T10:10:00Z'));
  assert.equal(nextClose('5m', 0, close - 1), close);
  assert.equal(latestClose('5m', 0, close), close);
  assert.equal(latestClose('5m', 0, close - 1), utc('2024-01-20T10:00:00Z'));
  assert.equal(latestClose('5m', 0, close + 299_999), close);
});

test('an offset moves every close by that much, and next/latest agree on the moved moments', () => {
  const p = candlePattern('5m', 1500);
  assert.equal(p.text, '5m candles +1500 ms');
  assert.equal(p.next(utc('2024-01-20T10:05:00Z')), utc('2024-01-20T10:05:01.500Z'), 'the close just passed still has its offset moment ahead');
  assert.equal(p.next(utc('2024-01-20T10:05:01.500Z')), utc('2024-01-20T10:10:01.500Z'));
  assert.equal(p.latest(utc('2024-01-20T10:05:01.499Z')), utc('2024-01-20T10:00:01.500Z'));
  assert.equal(p.latest(utc('2024-01-20T10:05:01.500Z')), utc('2024-01-20T10:05:01.500Z'));
  assert.equal(candlePattern('1h').text, '1h candles');
});

test('a 5m candle pattern fires at the moments of `0 */5 * * * *` in UTC, for a whole day', () => {
  process.env.TZ = 'UTC';
  try {
    const cron = pattern('0 */5 * * * *');
    const candle = candlePattern('5m');
    const from = utc('2024-03-31T00:00:00Z');
    assert.deepEqual(closes(candle.next, from, 288), closes(cron.next, from, 288));
  } finally {
    process.env.TZ = 'Asia/Kathmandu';
  }
});

test('the union of 1m and 5m fires every minute once (the shared closes once), and an hour holds 60 of its slots, 12 of them the 5m', () => {
  const one = candlePattern('1m');
  const five = candlePattern('5m');
  const both = unionPattern([one, five]);
  assert.equal(both.text, '1m candles | 5m candles');
  const from = utc('2024-01-20T10:00:00Z');
  const hour = closes(both.next, from, 60);
  assert.equal(new Set(hour).size, 60);
  assert.equal(hour.at(-1), '2024-01-20T11:00:00.000Z');
  assert.equal(hour.filter((t) => isSlotOf(five, Date.parse(t))).length, 12);
  assert.equal(hour.filter((t) => isSlotOf(one, Date.parse(t))).length, 60);
  assert.equal(both.latest(utc('2024-01-20T10:07:30Z')), utc('2024-01-20T10:07:00Z'));
  // With an offset, a union of the hourly and daily closes fires the shared midnight once, 5 s after it.
  const apart = unionPattern([candlePattern('1h', 5000), candlePattern('1d', 5000)]);
  assert.deepEqual(closes(apart.next, utc('2024-01-20T23:00:00Z'), 2), ['2024-01-20T23:00:05.000Z', '2024-01-21T00:00:05.000Z']);
  assert.equal(unionPattern([one]), one, 'one pattern is its own union');
});

test('isSlotOf: a close is a slot, a moment between closes is not, and cron patterns answer the same way', () => {
  assert.equal(isSlotOf(candlePattern('1h'), utc('2024-01-20T10:00:00Z')), true);
  assert.equal(isSlotOf(candlePattern('1h'), utc('2024-01-20T10:05:00Z')), false);
  assert.equal(isSlotOf(candlePattern('1h', 250), utc('2024-01-20T10:00:00.250Z')), true);
  assert.equal(isSlotOf(pattern('*/10 * * * * *'), utc('2024-01-20T10:00:20Z')), true);
  assert.equal(isSlotOf(pattern('*/10 * * * * *'), utc('2024-01-20T10:00:21Z')), false);
});
