import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/open.ts';
import { everySecondAgent } from '../helpers/cli-process.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { fakeWallClock, libfaketimeFor, wallClockScene } from '../helpers/faketime.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { scene } from '../helpers/scene.ts';
import { until, within } from '../helpers/wait.ts';

// Wall-clock steps against the real CLI under libfaketime (issue 15, items 1 and 10).

const agentEnv = (diego: string, db: string) => everySecondAgent(diego, db, { STATS_INTERVAL_MS: '0' });

test('X-Sent-At follows the wall clock at send time: after a step of +3,600 s the stamps move with it', async (t) => {
  const w = await wallClockScene(t);
  if (!w) return;
  const { s, stub, db, clock } = w;
  const cli = s.cli(['run'], agentEnv(stub.url, db), { preload: clock.preload });
  await until(() => stub.received.length >= 1, 'a first POST', 10_000);
  const sentAt = (i: number) => Number(stub.received[i]!.headers['x-sent-at']);
  assert.ok(Math.abs(sentAt(0) - Date.now()) < 2000, `before the step: ${sentAt(0)} vs ${Date.now()}`);
  clock.offset(3600);
  const stepped = stub.received.length;
  await until(() => stub.received.length >= stepped + 2, 'POSTs after the step', 10_000);
  const last = stub.received.length - 1;
  const expected = Date.now() + 3_600_000;
  assert.ok(Math.abs(sentAt(last) - expected) < 2000, `after the step X-Sent-At is ${((sentAt(last) - expected) / 1000).toFixed(1)} s off the agent's wall clock`);
  cli.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0, cli.stderr.join('\n'));
});

/** Resolves `beforeMs` real milliseconds before the next whole second (the child's slots, its offset being whole seconds). */
async function justBeforeSecond(beforeMs: number): Promise<void> {
  const target = () => 1000 - beforeMs;
  if (Date.now() % 1000 > target() - 20) await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000)));
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, target() - 10 - (Date.now() % 1000))));
  while (Date.now() % 1000 < target()); // the last few ms on the spot: the prepare window is only 100 ms
}

/**
 * Runs the agent every second, steps its wall clock back by `seconds` 50 ms before a slot (inside the 100 ms in
 * which that slot is prepared), waits for `logged`, sends SIGTERM and hands back what happened.
 */
async function stepBackWhilePrepared(t: TestContext, lib: string, seconds: number, logged: RegExp) {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const dir = s.dir();
  const db = join(dir, 'history.db');
  const clock = fakeWallClock(lib, join(dir, 'faketime.rc'));
  const cli = s.cli(['run'], { ...agentEnv(stub.url, db), SHUTDOWN_GRACE_MS: '2000' }, { preload: clock.preload });
  await cli.line(/Scalping cycle completed successfully/);
  await justBeforeSecond(50);
  clock.offset(-seconds);
  const line = await cli.line(logged, 3000);
  const postsAtStop = stub.received.length;
  const stoppedAt = performance.now();
  cli.kill('SIGTERM');
  const exit = await within(cli.exited, 10_000, 'the agent to exit after SIGTERM');
  const opened = await openDatabase({ kind: 'sqlite', path: db }, { readonly: true });
  const cycles = await cycleRows(opened.db);
  await opened.close();
  return { line, exit, exitSeconds: (exit.at - stoppedAt) / 1000, postsAfterStop: stub.received.length - postsAtStop, cycles, out: [...cli.stdout, ...cli.stderr] };
}

test('a step back of 3,600 s inside the prepare window: the prepared slot is released unsent and logged; SIGTERM ends the agent at once', async (t) => {
  const lib = libfaketimeFor(t);
  if (!lib) return;
  const r = await stepBackWhilePrepared(t, lib, 3600, /Wall clock went back to .* after slot .* was prepared: released unsent, the slot is passed over/);
  assert.equal(r.exit.code, 0, r.out.join('\n'));
  assert.ok(r.exitSeconds < 3, `exited ${r.exitSeconds.toFixed(1)} s after SIGTERM`);
  assert.equal(r.postsAfterStop, 0, 'nothing sent after SIGTERM');
  assert.deepEqual(r.cycles.filter((c) => c.status === 'running'), [], 'no cycle left running');
  const released = r.cycles.filter((c) => c.reason === 'clock_back');
  assert.deepEqual(released.map((c) => c.status), ['skipped'], JSON.stringify(r.cycles.map((c) => [c.status, c.reason])));
  assert.ok(r.out.some((l) => /Wall clock went back to .* before the last slot fired .* waiting, no slot fires twice/.test(l)), 'the wait that follows says why nothing fires');
});

test('a step back of 20 s inside the prepare window: logged, and SIGTERM ends the wait at once; the prepared slot is never sent', async (t) => {
  const lib = libfaketimeFor(t);
  if (!lib) return;
  const r = await stepBackWhilePrepared(t, lib, 20, /Wall clock went back to .* before the last slot fired .* waiting, no slot fires twice/);
  assert.equal(r.exit.code, 0, r.out.join('\n'));
  assert.ok(r.exitSeconds < 3, `exited ${r.exitSeconds.toFixed(1)} s after SIGTERM`);
  assert.equal(r.postsAfterStop, 0, 'the prepared POST is not sent after SIGTERM');
  assert.deepEqual(r.cycles.filter((c) => c.status === 'running'), [], 'no cycle left running');
  const last = r.cycles.at(-1)!;
  assert.deepEqual([last.status, last.reason], ['interrupted', 'shutdown'], 'the prepared cycle closes unsent at the stop');
});
