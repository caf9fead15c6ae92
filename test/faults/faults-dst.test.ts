import { test } from 'node:test';
import assert from 'node:assert/strict';
import { registerAgent } from '../../src/store/history/agent-registry.ts';
import { openDatabase } from '../../src/store/open.ts';
import { wallClockScene } from '../helpers/faketime.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { until, within } from '../helpers/wait.ts';

// The autumn DST change against the real CLI (issue 15, item 2): TZ=Europe/Paris, the wall clock set by libfaketime
// to just before 2026-10-25T01:00:00Z, when Paris goes from 03:00 CEST back to 02:00 CET.

const CHANGE = Date.parse('2026-10-25T01:00:00Z');

test('TZ=Europe/Paris, every second, through the autumn change: the agent fires each second of the repeated hour, `next` lists them, `stats` expects them', async (t) => {
  const w = await wallClockScene(t);
  if (!w) return;
  const { s, stub, db, clock } = w;
  // Whole seconds of offset: the child's wall clock reads CHANGE − 4 s, give or take the rounding.
  clock.offset(Math.round((CHANGE - 4000 - Date.now()) / 1000));
  const env = { TZ: 'Europe/Paris', CRON_PATTERN: '* * * * * *' };

  const next = s.cli(['next', '--json', '--count', '8'], env, { preload: clock.preload });
  const agent = s.cli(
    ['run'],
    { ...env, DIEGO_URL: stub.url, MIGUEL_URL: '', WAIT_FOR_READY: 'false', RUN_ON_START: 'false', DATABASE_URL: db, STATS_INTERVAL_MS: '0' },
    { preload: clock.preload },
  );
  assert.equal((await within(next.exited, 10_000, '`next` to answer')).code, 0, next.stderr.join('\n'));
  const listed: number[] = JSON.parse(next.stdout.join('\n')).next.map((s: string) => Date.parse(s));
  assert.ok(listed[0]! < CHANGE && listed.at(-1)! > CHANGE, `the list spans the change: ${listed.map((s) => new Date(s).toISOString()).join(', ')}`);
  for (let i = 1; i < listed.length; i++) assert.equal(listed[i]! - listed[i - 1]!, 1000, `next: ${new Date(listed[i - 1]!).toISOString()} → ${new Date(listed[i]!).toISOString()}`);

  await until(() => agent.stdout.filter((l) => /Scalping cycle completed successfully/.test(l)).length >= 10, 'ten cycles across the change', 20_000);
  agent.kill('SIGTERM');
  assert.equal((await within(agent.exited, 10_000, 'the agent to stop')).code, 0, agent.stderr.join('\n'));

  const opened = await openDatabase({ kind: 'sqlite', path: db }, { readonly: true });
  const slots = (await cycleRows(opened.db)).map((c) => c.scheduled_at);
  await opened.close();
  assert.ok(slots[0]! < CHANGE && slots.at(-1)! >= CHANGE + 3000, `slots ${slots.map((s) => new Date(s).toISOString()).join(', ')}`);
  for (let i = 1; i < slots.length; i++) assert.equal(slots[i]! - slots[i - 1]!, 1000, `a gap after ${new Date(slots[i - 1]!).toISOString()}`);
  assert.equal(stub.received.length, slots.length, 'one POST per slot');

  // `stats` (its own real clock, long past the window) counts expected slots while an agent ran: say one ran until
  // 02:00:00Z. The hour after the agent's first slot then holds one slot a second, the repeated hour included.
  const hourEnd = Date.parse('2026-10-25T02:00:00Z');
  const writer = await openDatabase({ kind: 'sqlite', path: db });
  const ran = await registerAgent(writer.db, { owner: 'through-the-hour', host: 'h', pid: 1, version: 'test', cronPattern: '* * * * * *', symbols: ['BTC/USDT'], startedAt: slots[0]!, readyAt: slots[0]! });
  await ran.markStopped(hourEnd);
  await writer.close();
  const stats = s.cli(['stats', '--json', '--since', new Date(slots[0]!).toISOString(), '--until', new Date(hourEnd).toISOString(), '--cron', '* * * * * *', '--db', db], { TZ: 'Europe/Paris' });
  assert.equal((await within(stats.exited, 10_000, '`stats` to answer')).code, 0, stats.stderr.join('\n'));
  const total = JSON.parse(stats.stdout.join('\n')).total;
  assert.deepEqual([total.expectedSlots, total.missedSlots], [(hourEnd - slots[0]!) / 1000, (hourEnd - slots[0]!) / 1000 - slots.length]);
});
