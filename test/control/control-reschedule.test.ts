import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readControlState } from '../../src/control/control-store.ts';
import { BACKENDS, backendTest, type BackendName } from '../helpers/backends.ts';
import { runCli } from '../helpers/cli-process.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { outputOf, slotRows, stopReplicas } from '../helpers/replicas.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';

// `reschedule`, end to end: running agents of the built CLI on `* * * * * *` switch to another pattern from their next
// slot, without a restart and without firing a slot twice, and back with `--reset`; a new agent starts on the
// pattern in force. A bad pattern is exit 2 and changes nothing.

/** `pmf-scheduler …args --db DB`, run to its end. */
const cli = (args: string[], db: string) => runCli([...args, '--db', db]);

describe('reschedule: every running agent switches cadence from its next slot, no slot twice', { concurrency: true }, () => {
  for (const backend of BACKENDS) {
    test(`[${backend}] ${backend === 'sqlite' ? 'one agent' : 'three replicas'}: * * * * * * → */2 * * * * * → --reset; a late agent starts on the pattern in force; a bad pattern exits 2`, backendTest(backend), async (ctx) => {
      await scenario(ctx, backend);
    });
  }

  for (const backend of BACKENDS) {
    test(`[${backend}] ${backend === 'sqlite' ? 'one agent' : 'two replicas'}: a reschedule applies from now: once a year → every second fires within seconds (not in 2027), back to once a year drops the pending slot; no slot twice`, backendTest(backend), async (ctx) => {
      await fromNow(ctx, backend);
    });
  }
});

/** Issue 24 item 1: an agent waiting for next year's slot switches at once; the slot it waited for is dropped. */
async function fromNow(ctx: TestContext, backend: BackendName): Promise<void> {
  const ONCE_A_YEAR = '0 0 0 1 1 *';
  const s = scene(ctx);
  const t = await s.database(backend);
  const stub = await s.stub([{ status: 200, body: analysisOk('HOLD') }]);
  const ids = backend === 'sqlite' ? ['agent-1'] : ['replica-1', 'replica-2'];
  const agents = ids.map((id) => s.replica(id, { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: ONCE_A_YEAR }));
  await Promise.all(agents.map((a) => a.line(/Next fire time: \d{4}-01-01T00:00:00\.000Z/, 20_000)));

  const fast = await cli(['reschedule', '* * * * * *', '--reason', 'now'], t.path);
  assert.equal(fast.code, 0, fast.err);
  const switched = Date.now();
  await Promise.all(agents.map((a) => a.line(/Rescheduled: next fire time \S+; the slot \d{4}-01-01T00:00:00\.000Z of the old pattern is dropped/, 5000).catch(() => assert.fail(outputOf(a)))));
  await until(() => stub.received.length >= 3, 'three POSTs on the new pattern', 8000);
  // RETRY_DELAY_MS (5000 by default) fits a yearly pattern, not one every second: said at the switch, not at start.
  for (const a of agents) {
    const noRoom = (l: string) => /RETRY_DELAY_MS=5000 leaves no time for a retry: slots can be 1000 ms apart/.test(l);
    assert.equal(a.stdout.concat(a.stderr).filter(noRoom).length, 1, outputOf(a));
    assert.match(a.stdout.concat(a.stderr).find(noRoom)!, /After the reschedule to "\* \* \* \* \* \*": /);
  }
  // Within a poll and a second, with room for a loaded machine; before the fix it was next year.
  assert.ok(stub.received[0]!.at - switched < 5000, `first POST ${stub.received[0]!.at - switched} ms after the reschedule`);

  const slow = await cli(['reschedule', ONCE_A_YEAR, '--reason', 'back to yearly'], t.path);
  assert.equal(slow.code, 0, slow.err);
  // The slot each agent awaited under every second is dropped — unless the change reached it while that slot was
  // already prepared (claimed, it fires), or between two slots: then the agent's next slot is the new pattern's and
  // nothing is left to drop. Both lines name next year's slot.
  await Promise.all(agents.map((a) => a.line(/Rescheduled: next fire time \d{4}-01-01T00:00:00\.000Z(?:; the slot \S+ of the old pattern is dropped|$)/m, 10_000).catch(() => assert.fail(outputOf(a)))));
  const backAt = Date.now();
  // Every agent has applied it: at most the slot each had armed (within a second) fires after this; then nothing.
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const late = (await slotRows(t.db)).map((r) => Number(r.scheduled_at)).filter((at) => at > backAt + 1000);
  assert.deepEqual(late.map((at) => new Date(at).toISOString()), [], 'no every-second slot after every agent switched back to once a year');

  assert.deepEqual(await stopReplicas(agents), agents.map(() => 0), agents.map(outputOf).join('\n'));
  const slots = (await slotRows(t.db)).map((r) => Number(r.scheduled_at));
  assert.equal(new Set(slots).size, slots.length, 'no slot twice');
  assert.equal(slots.length, stub.received.length, 'one POST per slot');
}

async function scenario(ctx: TestContext, backend: BackendName): Promise<void> {
  const s = scene(ctx);
  const t = await s.database(backend);
  const stub = await s.stub([{ status: 200, body: analysisOk('HOLD') }]);
  const ids = backend === 'sqlite' ? ['agent-1'] : ['replica-1', 'replica-2', 'replica-3'];
  const agents = ids.map((id) => s.replica(id, { DATABASE_URL: t.path, DIEGO_URL: stub.url }));
  await Promise.all(agents.map((a) => a.line(/Pattern in force: \* \* \* \* \* \* \(CRON_PATTERN\)/, 20_000)));
  await until(() => stub.received.length >= 2, 'two cycles first', 10_000);

  // Bad input first: nothing changes.
  const bad = await cli(['reschedule', '61 * * * * *', '--reason', 'x'], t.path);
  assert.equal(bad.code, 2);
  assert.match(bad.err, /^pmf-scheduler: Invalid PATTERN "61 \* \* \* \* \*": expected a cron pattern with 5 or 6 fields \(seconds first\), such as "0 \* \* \* \* \*" \(.+\)$/);
  const noReason = await cli(['reschedule', '*/2 * * * * *'], t.path);
  assert.equal(noReason.code, 2);
  assert.match(noReason.err, /^pmf-scheduler: Missing --reason/);
  const none = await cli(['reschedule'], t.path);
  assert.equal(none.code, 2);
  assert.match(none.err, /^pmf-scheduler: Missing PATTERN: expected a cron pattern/);
  assert.equal((await readControlState(t.db)).version, 0, 'nothing changed');

  const slower = await cli(['reschedule', '*/2 * * * * *', '--reason', 'slower', '--by', 'ops'], t.path);
  assert.equal(slower.code, 0, slower.err);
  await Promise.all(agents.map((a) => a.line(/\[SCHEDULER\] Pattern in force: \*\/2 \* \* \* \* \* \(reschedule by ops \(.+@.+\) at .*: slower; CRON_PATTERN \* \* \* \* \* \* set aside\)/, 5000)));
  const switched = Date.now();
  const status = await cli(['status'], t.path);
  assert.equal(status.code, 0, status.err);
  assert.match(status.out, /^Pattern: \*\/2 \* \* \* \* \* \(reschedule by ops \(.+@.+\) at .*: slower\); next slot /m);

  // A new agent starts on the pattern the database holds.
  const late = s.replica(backend === 'sqlite' ? 'agent-2' : 'replica-4', { DATABASE_URL: t.path, DIEGO_URL: stub.url });
  agents.push(late);
  await late.line(/Pattern in force: \*\/2 \* \* \* \* \* \(reschedule by ops/, 20_000);
  await late.line(/Next fire time: \S+:\d[02468]\.000Z/, 5000);

  const rowsAfter = async (from: number) => (await slotRows(t.db)).filter((r) => Number(r.scheduled_at) > from);
  await until(async () => (await rowsAfter(switched + 1000)).length >= 3, 'three slots on the new pattern', 10_000);

  const reset = await cli(['reschedule', '--reset', '--by', 'ops'], t.path);
  assert.equal(reset.code, 0, reset.err);
  await Promise.all(agents.map((a) => a.line(/\[SCHEDULER\] Pattern in force: \* \* \* \* \* \* \(CRON_PATTERN\)/, 5000).catch(() => assert.fail(outputOf(a)))));
  const back = Date.now();
  await until(async () => (await rowsAfter(back + 1000)).length >= 3, 'three slots back on CRON_PATTERN', 10_000);
  const again = await cli(['reschedule', '--reset'], t.path);
  assert.deepEqual([again.code, again.out], [0, 'Nothing to reset: no pattern set by reschedule; CRON_PATTERN is in force']);

  assert.deepEqual(await stopReplicas(agents), agents.map(() => 0), agents.map(outputOf).join('\n'));
  const rows = await slotRows(t.db);
  const slots = rows.map((r) => Number(r.scheduled_at));
  assert.equal(new Set(slots).size, slots.length, 'no slot twice');
  // Between the switch (plus the one slot each agent had armed) and the reset, only even seconds.
  const during = slots.filter((s) => s > switched + 1000 && s < back);
  assert.ok(during.length >= 3, `${during.length} slots on the new pattern`);
  assert.deepEqual(during.filter((s) => (s / 1000) % 2 !== 0).map((s) => new Date(s).toISOString()), [], 'only */2 slots');
  // After the reset, every second again.
  const after = slots.filter((s) => s > back + 1000);
  for (let i = 1; i < after.length; i++) assert.equal(after[i], after[i - 1]! + 1000);
  assert.ok(rows.every((r) => r.status === 'succeeded' || (r.status === 'failed' && r.reason === 'deadline')), JSON.stringify(rows.filter((r) => r.status !== 'succeeded')));

  const audit = JSON.parse((await cli(['audit', '--json'], t.path)).out) as { action: string; args: Record<string, unknown>; applied: { owner: string }[] }[];
  assert.deepEqual(audit.map((e) => [e.action, e.args]), [['reschedule', { pattern: '*/2 * * * * *' }], ['reschedule', { reset: true }]]);
  assert.deepEqual(audit[0]!.applied.map((a) => a.owner).sort(), ids, 'applied by each agent running at the time');
}
