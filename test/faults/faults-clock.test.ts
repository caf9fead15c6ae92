import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { openDatabase } from '../../src/store/open.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { fakeWallClock, libfaketimeFor } from '../helpers/faketime.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';

test('wall-clock jumps: forward, the missed slots are not all fired (only the current one, the gap logged); back, no slot fires twice', async (t) => {
  const lib = libfaketimeFor(t);
  if (!lib) return;
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const dir = s.dir();
  const path = join(dir, 'history.db');
  const { preload, offset } = fakeWallClock(lib, join(dir, 'faketime.rc'));
  const cli = s.cli(
    ['run'],
    { DIEGO_URL: stub.url, MIGUEL_URL: '', WAIT_FOR_READY: 'false', RUN_ON_START: 'false', CRON_PATTERN: '* * * * * *', DATABASE_URL: path, STATS_INTERVAL_MS: '0' },
    { preload },
  );
  const completed = () => cli.stdout.filter((l) => /Scalping cycle completed successfully/.test(l)).length;
  await until(() => completed() >= 2, 'two cycles before any jump', 10_000);

  // Forward one hour: 3,600 slots are due at once.
  const beforeForward = stub.received.length;
  offset(3600);
  const missed = await cli.line(/Missed \d+ slot\(s\) from .* \(late wake-up or clock jump\); firing only/, 5000);
  assert.ok(Number(/Missed (\d+)/.exec(missed)![1]) >= 3590, missed);
  const jumpedAt = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const firedSinceForward = stub.received.length - beforeForward;
  const realSeconds = (performance.now() - jumpedAt) / 1000;
  assert.ok(firedSinceForward <= Math.ceil(realSeconds) + 2, `${firedSinceForward} POSTs in the ${realSeconds.toFixed(1)} s after the jump: no catch-up burst`);

  // Back three seconds, behind the last slot fired: the agent waits for new slots, it never re-fires old ones.
  await until(() => completed() >= 4, 'cycles after the forward jump', 5000);
  offset(3597);
  await cli.line(/Wall clock went back to .* before the last slot fired .* waiting, no slot fires twice/, 5000);
  const cyclesAfterBack = completed();
  await until(() => completed() >= cyclesAfterBack + 2, 'cycles resuming once the clock catches up', 10_000);

  cli.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0, cli.stderr.join('\n'));

  const db = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  const cycles = (await cycleRows(db.db)).sort((a, b) => a.id - b.id);
  await db.close();
  const slots = cycles.map((c) => c.scheduled_at);
  assert.equal(new Set(slots).size, slots.length, 'each slot once');
  for (let i = 1; i < slots.length; i++) assert.ok(slots[i]! > slots[i - 1]!, `slot ${new Date(slots[i]!).toISOString()} claimed after a later one: fired out of order`);
  // Of the hour of slots the jump made due, none is recorded but the one fired (and a slot prepared just before
  // the jump, which would close unsent as skipped).
  const [, firstMissed, firedOnly] = /from (\S+) .*firing only (\S+)$/.exec(missed)!.map((x) => Date.parse(x));
  const inGap = cycles.filter((c) => c.scheduled_at >= firstMissed! && c.scheduled_at < firedOnly!);
  assert.ok(inGap.length <= 1 && inGap.every((c) => c.status === 'skipped'), `slots of the jumped hour recorded: ${inGap.length}`);
  assert.ok(slots.includes(firedOnly!), 'the current slot fired');
  const posted = new Set(stub.received.map((r) => String(r.headers['idempotency-key'])));
  assert.equal(posted.size, stub.received.length, 'one POST per cycle');
  for (const c of cycles) if (c.status === 'succeeded') assert.ok(posted.has(c.idempotency_key));
  const notRun = cycles.filter((c) => c.status !== 'succeeded');
  // Not succeeded: a slot passed over (skipped, nothing sent), or, on a loaded machine, a cycle whose answer had not
  // arrived when its next slot fired (failed at its deadline: it sent exactly its own one POST).
  const explained = (c: (typeof notRun)[number]) => (c.status === 'skipped' && !posted.has(c.idempotency_key)) || (c.status === 'failed' && c.reason === 'deadline');
  assert.ok(notRun.every(explained), `cycles not run: ${JSON.stringify(notRun.map((c) => [c.status, c.reason, posted.has(c.idempotency_key)]))}`);
});
