import assert from 'node:assert/strict';
import test from 'node:test';
import { openDatabase } from '../../src/store/open.ts';
import { everySecondAgent, spawnCli } from '../helpers/cli-process.ts';
import { wallClockScene } from '../helpers/faketime.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { until, within } from '../helpers/wait.ts';

// Issue 24, item 9: the wall clock stepped back an hour under the real CLI (libfaketime). The agent keeps "no slot
// fires twice" (it waits for the slot after the last one fired) but says so: an error line, a `clock_step`
// notification, `healthcheck` unhealthy and `status` "Not firing until T (the clock went back N s)", exit 4.

/** Runs `pmf-scheduler …args` under the same faked wall clock as the agent, to its end (bounded). */
async function runAt(preload: Record<string, string>, args: string[], env: Record<string, string>) {
  const p = spawnCli(args, env, { preload });
  try {
    const { code } = await within(p.exited, 20_000, `pmf-scheduler ${args.join(' ')}`);
    return { code, out: p.stdout.join('\n'), err: p.stderr.join('\n') };
  } finally {
    p.kill('SIGKILL');
  }
}

test('a step back of 3,600 s: logged as an error, notified, healthcheck unhealthy and status "Not firing until T" (exit 4); firing and health come back with the clock', async (t) => {
  const w = await wallClockScene(t);
  if (!w) return;
  const { s, stub, db, clock } = w;
  const hook = await s.receiver();
  const env = { ...everySecondAgent(stub.url, db, { STATS_INTERVAL_MS: '0', LOG_FORMAT: 'json', ALERT_WEBHOOK_URL: `${hook.url}/hook` }) };
  const cli = s.cli(['run'], env, { preload: clock.preload });
  await cli.line(/Scalping cycle completed successfully/);
  clock.offset(-3600);
  const line = JSON.parse(await cli.line(/Wall clock went back to .*, (3599|3600) s before the last slot fired .*; waiting, no slot fires twice: not firing until/, 10_000)) as { level: string; msg: string };
  const until_ = /not firing until (\S+)$/.exec(line.msg)![1]!;
  assert.equal(line.level, 'error', line.msg);
  await until(() => hook.received.some((r) => (r.body as { event: string }).event === 'clock_step'), 'the clock_step notification', 10_000);
  const note = hook.received.find((r) => (r.body as { event: string }).event === 'clock_step')!.body as { severity: string; text: string };
  assert.equal(note.severity, 'critical');
  assert.match(note.text, new RegExp(`the wall clock went back (3599|3600) s: not firing until ${until_.replaceAll('.', '\\.')}`));
  const postsAtStep = stub.received.length;

  await until(async () => (await runAt(clock.preload, ['healthcheck'], env)).code === 1, 'healthcheck to see the hold', 15_000);
  const health = await runAt(clock.preload, ['healthcheck'], env);
  assert.match(health.out, new RegExp(`^unhealthy: agent .*: not firing until ${until_.replaceAll('.', '\\.')} \\(the clock went back (3599|3600) s\\)$`));
  const status = await runAt(clock.preload, ['status'], env);
  assert.equal(status.code, 4, status.out + status.err);
  assert.match(status.out.split('\n')[0]!, new RegExp(`^Not firing until ${until_.replaceAll('.', '\\.')} \\(the clock went back (3599|3600) s\\)$`));
  assert.match(status.out, new RegExp(`; next slot ${until_.replaceAll('.', '\\.')}`));
  assert.equal(stub.received.length, postsAtStep, 'nothing fired during the hold');

  // The clock comes back: the slot after the last one fired is due again, fires, and the hold is lifted (the wait
  // re-reads the wall clock at least every 30 s: MAX_WAIT_STEP_MS).
  clock.offset(0);
  await cli.line(/Firing again after the clock went back/, 45_000);
  await until(async () => (await runAt(clock.preload, ['healthcheck'], env)).code === 0, 'healthcheck healthy again', 15_000);
  cli.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0, cli.stderr.join('\n'));
  const opened = await openDatabase({ kind: 'sqlite', path: db }, { readonly: true });
  const cycles = await cycleRows(opened.db);
  await opened.close();
  const slots = cycles.filter((c) => c.trigger === 'schedule').map((c) => c.scheduled_at);
  assert.equal(new Set(slots).size, slots.length, 'no slot twice');
});
