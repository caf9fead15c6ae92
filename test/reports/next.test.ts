import { test } from 'node:test';
import assert from 'node:assert/strict';
import { localTime } from '../../src/commands/next.ts';
import { runMain } from '../helpers/run-main.ts';

// This file's process runs in a half-hour time zone, so local time and UTC differ in a way a mistake would show.
process.env.TZ = 'Asia/Kolkata';

// ICU may name it by its older alias (Asia/Calcutta).
const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;
const ISO = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.000Z/;

test('next: the next 5 fire times of CRON_PATTERN, in local time (with its offset) and UTC, each after the one before', async () => {
  const before = Date.now();
  const r = await runMain(['next'], { CRON_PATTERN: '*/15 * * * * *', TZ: 'Asia/Kolkata' });
  assert.equal(r.code, 0, r.err.join('\n'));
  const lines = r.text.split('\n');
  assert.equal(lines[0], `Next 5 fire time(s) of "*/15 * * * * *" (local time zone ${ZONE}, set by TZ)`);
  assert.equal(lines.length, 6);
  const times = lines.slice(1).map((l) => {
    const m = new RegExp(`^  (\\d{4}-\\d{2}-\\d{2} \\d{2}:\\d{2}:\\d{2} \\+05:30)   (${ISO.source})   in .+$`).exec(l);
    assert.ok(m, l);
    assert.equal(m[1], localTime(Date.parse(m[2]!)));
    return Date.parse(m[2]!);
  });
  assert.ok(times[0]! > before && times[0]! <= before + 15_000, 'the first is the next quarter minute');
  for (let i = 1; i < 5; i++) assert.equal(times[i]! - times[i - 1]!, 15_000);
  for (const t of times) assert.equal(new Date(t).getUTCSeconds() % 15, 0);
});

test('next --cron and --count; the default pattern is every minute; --json', async () => {
  const r = await runMain(['next', '--cron', '0 30 9 * * 1', '--count', '3', '--json']);
  assert.equal(r.code, 0, r.err.join('\n'));
  const body = JSON.parse(r.text);
  assert.deepEqual(Object.keys(body), ['cron', 'timeZone', 'next']);
  assert.equal(body.cron, '0 30 9 * * 1');
  assert.equal(body.timeZone, ZONE);
  assert.match(ZONE, /^Asia\/(Kolkata|Calcutta)$/);
  assert.equal(body.next.length, 3);
  for (const t of body.next as string[]) {
    // Mondays 09:30 in Kolkata are 04:00 UTC on Mondays.
    const d = new Date(t);
    assert.deepEqual([d.getUTCDay(), d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()], [1, 4, 0, 0], t);
  }
  assert.equal(Date.parse(body.next[1]) - Date.parse(body.next[0]), 7 * 86_400_000);

  const byDefault = await runMain(['next', '--count', '2', '--json']);
  const [a, b] = JSON.parse(byDefault.text).next.map(Date.parse);
  assert.equal(JSON.parse(byDefault.text).cron, '0 * * * * *');
  assert.equal(b - a, 60_000);
  assert.equal(new Date(a).getUTCSeconds(), 0);

  const fiveFields = await runMain(['next', '--cron', '*/5 * * * *', '--count', '1', '--json']);
  assert.equal(new Date(JSON.parse(fiveFields.text).next[0]).getUTCMinutes() % 5, 0, 'five fields: minutes first');
});

test('next: an invalid pattern or count exits 2 with one line saying what is wrong', async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [['--cron', '61 * * * * *'], {}, /^pmf-scheduler: Invalid --cron "61 \* \* \* \* \*": expected a cron pattern with 5 or 6 fields \(seconds first\), such as "0 \* \* \* \* \*" \(.*61.*\)$/],
    [['--cron', '0 0 31 9 *'], {}, /Invalid --cron "0 0 31 9 \*".*a pattern that never fires/],
    [['--cron', 'every minute'], {}, /Invalid --cron "every minute"/],
    [[], { CRON_PATTERN: '* * *' }, /^pmf-scheduler: Invalid CRON_PATTERN="\* \* \*": expected a cron pattern/],
    [['--count', 'abc'], {}, /^pmf-scheduler: Invalid --count "abc": expected an integer from 1 to 1000$/],
    [['--count', '0'], {}, /Invalid --count "0"/],
    [['--count', '1001'], {}, /Invalid --count "1001"/],
  ];
  for (const [args, env, says] of cases) {
    const r = await runMain(['next', ...args], env);
    assert.equal(r.code, 2, args.join(' '));
    assert.deepEqual(r.out, []);
    assert.equal(r.err.length, 1, r.err.join(' | '));
    assert.match(r.err[0]!, says);
  }
});

test('localTime: the wall time with the zone offset', () => {
  assert.equal(localTime(Date.UTC(2024, 0, 22, 4, 0, 5)), '2024-01-22 09:30:05 +05:30');
});

test('next with TIMEFRAMES: the candle closes in UTC (here at :00 and :30 past the local hour), each with the timeframes that close', async () => {
  const r = await runMain(['next', '--count', '12', '--json'], { TIMEFRAMES: '1h,5m', TZ: 'Asia/Kolkata' });
  assert.equal(r.code, 0, r.err.join('\n'));
  const body = JSON.parse(r.text) as { cron: string; next: string[]; timeframes: string[][] };
  assert.equal(body.cron, '5m candles | 1h candles');
  assert.equal(body.next.length, 12);
  body.next.forEach((iso, i) => {
    const t = Date.parse(iso);
    assert.equal(t % 300_000, 0, `${iso} is a 5m close in UTC`);
    assert.deepEqual(body.timeframes[i], t % 3_600_000 === 0 ? ['5m', '1h'] : ['5m'], iso);
  });
  assert.equal(body.timeframes.filter((tfs) => tfs.includes('1h')).length, 1, 'one hourly close in an hour of 5m closes');
  const text = await runMain(['next', '--count', '12'], { TIMEFRAMES: '1h,5m', TZ: 'Asia/Kolkata' });
  assert.match(text.text, /:00:00\.000Z   in .+   5m 1h$/m);
});
