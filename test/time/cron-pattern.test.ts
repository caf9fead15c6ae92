import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCronPattern, type CronPattern } from '../../src/time/cron-pattern.ts';
import { pattern } from '../helpers/cron.ts';

// cron-schedule follows local time. This file runs in its own process (node --test runs one per file), so it can
// pick a zone with daylight saving time: Europe/Paris goes 02:00 → 03:00 on 2024-03-31 and 03:00 → 02:00 on
// 2024-10-27, both at 01:00 UTC.
process.env.TZ = 'Europe/Paris';

const utc = (iso: string) => Date.parse(iso);
/** A wall-clock time in Paris (months from 1). */
const paris = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0) => new Date(y, mo - 1, d, h, mi, s).getTime();
const iso = (ms: number) => new Date(ms).toISOString();

/** The first `n` slots after `from`. */
function slots(p: CronPattern, from: number, n: number): string[] {
  const out: string[] = [];
  for (let at = from; out.length < n; ) out.push(iso((at = p.next(at))));
  return out;
}

test('the zone is really Europe/Paris (else the DST cases below prove nothing)', () => {
  assert.equal(new Date(utc('2024-01-20T10:00:00Z')).getTimezoneOffset(), -60);
  assert.equal(new Date(utc('2024-07-20T10:00:00Z')).getTimezoneOffset(), -120);
});

test('next is strictly after, whether or not the time falls on a slot', () => {
  const every = pattern('* * * * * *');
  assert.equal(every.next(utc('2024-01-20T10:00:00.000Z')), utc('2024-01-20T10:00:01Z'));
  assert.equal(every.next(utc('2024-01-20T10:00:00.001Z')), utc('2024-01-20T10:00:01Z'));
  assert.equal(every.next(utc('2024-01-20T10:00:00.999Z')), utc('2024-01-20T10:00:01Z'));
  const minute = pattern('0 * * * * *');
  assert.equal(minute.next(utc('2024-01-20T10:00:00Z')), utc('2024-01-20T10:01:00Z'));
  assert.equal(minute.next(utc('2024-01-20T10:00:59.999Z')), utc('2024-01-20T10:01:00Z'));
});

test('latest is the newest slot at or before the time', () => {
  const minute = pattern('0 * * * * *');
  assert.equal(minute.latest(utc('2024-01-20T10:01:00.000Z')), utc('2024-01-20T10:01:00Z'));
  assert.equal(minute.latest(utc('2024-01-20T10:01:00.999Z')), utc('2024-01-20T10:01:00Z'));
  assert.equal(minute.latest(utc('2024-01-20T10:01:59.999Z')), utc('2024-01-20T10:01:00Z'));
  assert.equal(minute.latest(utc('2024-01-20T10:00:59.999Z')), utc('2024-01-20T10:00:00Z'));
  const every = pattern('* * * * * *');
  assert.equal(every.latest(utc('2024-01-20T10:00:07.250Z')), utc('2024-01-20T10:00:07Z'));
});

test('*/30 with seconds fires at :00 and :30; as a 5-field pattern at minutes 0 and 30', () => {
  const start = utc('2024-01-20T10:00:00Z');
  assert.deepEqual(slots(pattern('*/30 * * * * *'), start, 4), ['2024-01-20T10:00:30.000Z', '2024-01-20T10:01:00.000Z', '2024-01-20T10:01:30.000Z', '2024-01-20T10:02:00.000Z']);
  assert.deepEqual(slots(pattern('*/30 * * * *'), start, 3), ['2024-01-20T10:30:00.000Z', '2024-01-20T11:00:00.000Z', '2024-01-20T11:30:00.000Z']);
  assert.equal(pattern('*/30 * * * *').latest(utc('2024-01-20T10:29:59.999Z')), utc('2024-01-20T10:00:00Z'));
});

test('5-field patterns are minute-first and fire at second 0', () => {
  assert.equal(pattern('15 9 * * *').next(paris(2024, 1, 20, 9, 15, 0)), paris(2024, 1, 21, 9, 15));
  assert.equal(pattern('* * * * *').next(paris(2024, 1, 20, 9, 15, 30)), paris(2024, 1, 20, 9, 16));
});

test('month and year boundaries', () => {
  const on31st = pattern('0 0 0 31 * *');
  assert.equal(on31st.next(paris(2024, 1, 31)), paris(2024, 3, 31), 'February and its 29 days are skipped');
  assert.equal(on31st.next(paris(2024, 3, 31)), paris(2024, 5, 31), 'April has 30 days');
  assert.equal(on31st.latest(paris(2024, 4, 15)), paris(2024, 3, 31));
  const firstOfMonth = pattern('0 0 0 1 * *');
  assert.equal(firstOfMonth.next(paris(2024, 1, 31, 23, 59, 59)), paris(2024, 2, 1));
  assert.equal(firstOfMonth.latest(paris(2024, 2, 29, 23, 59, 59)), paris(2024, 2, 1));
  const leapDay = pattern('0 0 12 29 2 *');
  assert.equal(leapDay.next(paris(2023, 3, 1)), paris(2024, 2, 29, 12));
  assert.equal(leapDay.next(paris(2024, 2, 29, 12)), paris(2028, 2, 29, 12));
  const newYear = pattern('0 0 0 1 1 *');
  assert.equal(newYear.next(paris(2024, 12, 31, 23, 59, 59)), paris(2025, 1, 1));
  assert.equal(pattern('59 59 23 * * *').next(paris(2024, 12, 31, 12)), paris(2024, 12, 31, 23, 59, 59));
});

test('spring forward (Paris, 2024-03-31): no slot is lost in real time, a daily 02:30 runs at 03:30', () => {
  const daily = pattern('0 30 2 * * *');
  assert.equal(iso(daily.next(utc('2024-03-30T12:00:00Z'))), '2024-03-31T01:30:00.000Z'); // 03:30 CEST
  assert.deepEqual(slots(pattern('0 0 * * * *'), utc('2024-03-31T00:30:00Z'), 3), ['2024-03-31T01:00:00.000Z', '2024-03-31T02:00:00.000Z', '2024-03-31T03:00:00.000Z']);
  assert.deepEqual(slots(pattern('* * * * * *'), utc('2024-03-31T00:59:58.500Z'), 3), ['2024-03-31T00:59:59.000Z', '2024-03-31T01:00:00.000Z', '2024-03-31T01:00:01.000Z']);
  // Known cron-schedule quirk, kept visible here: asked from 03:00–03:30 CEST it compares wall times, so a daily
  // 02:30 that the walk above runs at 03:30 is skipped that day. The scheduler walks from the last slot fired, so
  // only an agent started (or a clock set) in that half hour misses it.
  assert.equal(iso(daily.next(utc('2024-03-31T01:10:00Z'))), '2024-04-01T00:30:00.000Z');
});

test('fall back (Paris, 2024-10-27): sub-hourly and hourly slots fire through both passes of the repeated hour, each UTC moment once; a daily 02:30 once', () => {
  const daily = pattern('0 30 2 * * *');
  const first = daily.next(utc('2024-10-26T12:00:00Z'));
  assert.equal(iso(first), '2024-10-27T00:30:00.000Z'); // 02:30 CEST, the first pass
  assert.equal(iso(daily.next(first)), '2024-10-28T01:30:00.000Z', '02:30 does not fire again on the second pass');
  // Asked from inside the second pass (an agent started then), the answer is still in the future.
  assert.equal(iso(daily.next(utc('2024-10-27T01:00:00Z'))), '2024-10-28T01:30:00.000Z');
  const every = pattern('* * * * * *');
  assert.deepEqual(slots(every, utc('2024-10-27T00:59:58Z'), 3), ['2024-10-27T00:59:59.000Z', '2024-10-27T01:00:00.000Z', '2024-10-27T01:00:01.000Z']);
  assert.deepEqual(slots(every, utc('2024-10-27T01:59:58Z'), 3), ['2024-10-27T01:59:59.000Z', '2024-10-27T02:00:00.000Z', '2024-10-27T02:00:01.000Z']);
  assert.equal(iso(every.next(utc('2024-10-27T01:30:00.500Z'))), '2024-10-27T01:30:01.000Z');
  assert.equal(iso(every.latest(utc('2024-10-27T01:30:00.500Z'))), '2024-10-27T01:30:00.000Z');
  // 02:00 local comes twice: 00:00 UTC (CEST) and 01:00 UTC (CET), two slots of an hourly pattern.
  assert.deepEqual(slots(pattern('0 0 * * * *'), utc('2024-10-26T23:30:00Z'), 3), ['2024-10-27T00:00:00.000Z', '2024-10-27T01:00:00.000Z', '2024-10-27T02:00:00.000Z']);
  assert.deepEqual(slots(pattern('0 */30 * * * *'), utc('2024-10-26T23:59:59Z'), 5), ['2024-10-27T00:00:00.000Z', '2024-10-27T00:30:00.000Z', '2024-10-27T01:00:00.000Z', '2024-10-27T01:30:00.000Z', '2024-10-27T02:00:00.000Z']);
  // A fixed time of day with a wildcard minute (every minute of 02:xx) repeats too, as in cron.
  assert.equal(iso(pattern('0 * 2 * * *').next(utc('2024-10-27T00:59:00Z'))), '2024-10-27T01:00:00.000Z');
});

test('the issue-15 case: TZ=Europe/Paris, every second, 2026-10-25: the 3,600 slots of the repeated hour fire', () => {
  const every = pattern('* * * * * *');
  assert.equal(iso(every.next(utc('2026-10-25T00:59:59Z'))), '2026-10-25T01:00:00.000Z');
  let n = 0;
  for (let at = every.next(utc('2026-10-25T00:59:27.500Z')); at < utc('2026-10-25T02:00:00Z'); at = every.next(at)) n++;
  assert.equal(n, 3632);
});

/**
 * Property check around both transitions: list the slots by walking `next` from well before, then every
 * `next(t)` must be the first listed slot after t and every `latest(t)` the last one at or before t.
 */
test('around DST changes, next and latest agree with the walked list of slots', async (t) => {
  const windows: [string, number, number][] = [
    ['spring forward', utc('2024-03-31T00:00:00Z'), utc('2024-03-31T03:00:00Z')],
    ['fall back', utc('2024-10-27T00:00:00Z'), utc('2024-10-27T03:00:00Z')],
  ];
  const patterns: [string, number][] = [
    ['* * * * * *', 60_000],
    ['*/20 * * * * *', 60_000],
    ['0 * * * * *', 120_000],
    ['0 */15 * * * *', 3_600_000],
    ['0 0 * * * *', 7_200_000],
    ['0 30 2 * * *', 2 * 86_400_000],
    ['0 0 1-3 * * *', 2 * 86_400_000],
  ];
  for (const [name, from, to] of windows) {
    for (const [text, margin] of patterns) {
      if (name === 'spring forward' && text === '0 30 2 * * *') continue; // the quirk shown in the spring-forward test
      await t.test(`${name}: ${text}`, () => {
        const p = pattern(text);
        const listed: number[] = [];
        for (let at = p.next(from - margin); at <= to + margin; at = p.next(at)) {
          if (listed.length > 0) assert.ok(at > listed[listed.length - 1]!, `went back to ${iso(at)}`);
          listed.push(at);
        }
        // A step prime to every period, so the probes land on, just after and between slots.
        for (let at = from; at <= to; at += 60_497) {
          const i = listed.findIndex((s) => s > at);
          assert.equal(iso(p.next(at)), iso(listed[i]!), `next(${iso(at)})`);
          assert.equal(iso(p.latest(at)), iso(listed[i - 1]!), `latest(${iso(at)})`);
        }
      });
    }
  }
});

test('invalid patterns say why', () => {
  const error = (text: string) => {
    const r = parseCronPattern(text);
    assert.ok('error' in r, `${text} should be refused`);
    return r.error;
  };
  assert.equal(error(''), 'an empty pattern');
  assert.equal(error('   '), 'an empty pattern');
  assert.equal(error('0 0 31 9 *'), 'a pattern that never fires');
  assert.equal(error('0 0 0 30 2 *'), 'a pattern that never fires');
  assert.match(error('61 * * * * *'), /61/);
  assert.match(error('* * * *'), /5 or 6/);
  assert.match(error('0 0 0 * * * 2024'), /5 or 6/);
});

test('the pattern keeps its trimmed text', () => {
  assert.equal(pattern('  */5 * * * * *  ').text, '*/5 * * * * *');
});
