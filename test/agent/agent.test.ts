import { join } from 'node:path';
import { outlivesSlot } from '../../src/agent/policies.ts';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T0, lockstep, startAgents, type AgentGroup, type AgentSetup } from '../helpers/agent-harness.ts';
import { freePort, heldReply, startDiegoStub, type DiegoStub, type Reply } from '../helpers/diego-stub.ts';
import { attemptRows, cycleRows } from '../helpers/history-rows.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { until, within } from '../helpers/wait.ts';

// runAgent in-process: the real scheduler loop, cycle, Diego client and SQLite store, with a fast clock whose
// waits are released by a gate (see startAgents), so slot after slot fires in milliseconds, in a known order.

const iso = (ms: number) => new Date(ms).toISOString();
const messages = (lines: string[]) => lines.map((l) => l.replace(/^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] \[SCHEDULER\] /, ''));

/** A stub, a database file, and the agents of `setup` pointed at the stub; everything closed afterwards. */
async function withAgents(
  script: Reply[],
  setup: Omit<AgentSetup, 'path' | 'env'> & { env?: (stubUrl: string) => Record<string, string> },
  body: (g: AgentGroup, stub: DiegoStub) => Promise<void>,
): Promise<void> {
  const stub = await startDiegoStub(script);
  const dir = tempDir();
  let group: AgentGroup | undefined;
  try {
    group = await startAgents({ ...setup, path: join(dir.dir, 'history.db'), env: { DIEGO_URL: stub.url, ...setup.env?.(stub.url) } });
    await body(group, stub);
  } finally {
    await group?.close();
    await stub.close();
    dir.cleanup();
  }
}

test('each slot fires one POST and leaves one cycle row, its deadline the next slot; RUN_ON_START adds a startup cycle', async () => {
  await withAgents([{ status: 200 }], { slots: 3, env: () => ({ RUN_ON_START: 'true' }) }, async (g, stub) => {
    assert.deepEqual(await within(g.exits, 5000, 'the agents to stop'), [0]);
    assert.equal(stub.received.length, 3);
    const rows = await cycleRows(g.agents[0]!.database.db);
    assert.deepEqual(
      rows.map((r) => [r.trigger, r.status, r.attempts]),
      [['startup', 'succeeded', 1], ['schedule', 'succeeded', 1], ['schedule', 'succeeded', 1]],
    );
    assert.deepEqual(rows.slice(1).map((r) => [r.scheduled_at, r.deadline_at]), [[T0 + 1000, T0 + 2000], [T0 + 2000, T0 + 3000]]);
    assert.equal(rows[0]!.deadline_at, T0 + 1000, 'the startup cycle must end by the first slot');
    assert.equal(new Set(stub.received.map((r) => r.headers['idempotency-key'])).size, 3);
    const out = messages(g.agents[0]!.log.out);
    assert.ok(out.includes(`Next fire time: ${iso(T0 + 1000)}`));
    assert.equal(out.filter((l) => l === 'Scalping cycle completed successfully').length, 3);
    assert.ok(out.includes('Stopped'));
  });
});

test('early wake-up guard: timers that wake 20 ms early re-arm; each slot fires once, never before its time', async () => {
  const earlyMs = 20;
  await withAgents([{ status: 200 }], { slots: 5, earlyMs }, async (g, stub) => {
    assert.deepEqual(await within(g.exits, 5000, 'the agents to stop'), [0]);
    const agent = g.agents[0]!;
    assert.equal(agent.fired, 5);
    assert.equal(stub.received.length, 5, 'one POST per slot');
    const rows = await cycleRows(agent.database.db);
    assert.deepEqual(rows.map((r) => r.scheduled_at), [1, 2, 3, 4, 5].map((k) => T0 + k * 1000), 'one row per slot, no slot twice');
    // When each request left, by the agent's clock: never before its slot.
    for (const r of rows) {
      const sent = agent.sent.find((s) => s.idempotencyKey === r.idempotency_key);
      assert.ok(sent, `a request for slot ${iso(r.scheduled_at)}`);
      assert.ok(sent.at >= r.scheduled_at, `slot ${iso(r.scheduled_at)} sent ${r.scheduled_at - sent.at} ms early`);
      assert.ok(r.started_at >= r.scheduled_at);
    }
    // Each slot's wait came back early and was followed by a short re-arm rather than a fire.
    const rearms = agent.sleeps.filter((ms) => ms > 0 && ms <= earlyMs);
    assert.ok(rearms.length >= 5, `re-arms: ${rearms.length} in ${JSON.stringify(agent.sleeps)}`);
    assert.equal(agent.log.all().filter((l) => /already claimed|overlap/.test(l)).length, 0);
  });
});

test('deadline: a cycle still in flight when its next slot fires is cut on that boundary, and the slot fires normally', async () => {
  // The fast clock lets the wall clock run ahead of an HTTP round trip: slot 2 comes while slot 1's attempt is still
  // held by the stub. The agent must end slot 1 at the boundary (attempt `timeout`, cycle `failed`/`deadline`) rather
  // than skip slot 2 as an overlap. Exact under any load: the slots are a minute apart, so the attempt's real timeout
  // (the time to its deadline, 60 s) cannot be what ends it, and the frozen clock moves only when the agent sleeps,
  // so the cut happens exactly at slot 2's time.
  const slot1 = Math.ceil((T0 + 1) / 60_000) * 60_000;
  const slot2 = slot1 + 60_000;
  const held = heldReply();
  let isHeld = false;
  void held.held.then(() => (isHeld = true));
  // By the clock's time, not by counting waits (a wait is re-armed at least every 30 s, and cycles are prepared ahead).
  const gate = async (g: AgentGroup) => {
    const now = g.agents[0]!.clock.now();
    if (now >= slot1 && now < slot2) await until(() => isHeld, 'the stub to hold the request of slot 1'); // then slot 2 comes
    if (now >= slot2) {
      await until(() => g.active === 0, 'both cycles to end');
      g.stop.abort();
    }
  };
  await withAgents([held.reply, { status: 200 }], { gate, frozen: true, env: () => ({ CRON_PATTERN: '0 * * * * *' }) }, async (g, stub) => {
    assert.deepEqual(await within(g.exits, 5000, 'the agents to stop'), [0]);
    assert.equal(stub.received.length, 2, 'slot 2 sent its own request');
    const db = g.agents[0]!.database.db;
    const rows = await cycleRows(db);
    assert.deepEqual(
      rows.map((r) => [r.scheduled_at, r.status, r.reason, r.attempts]),
      [
        [slot1, 'failed', 'deadline', 1],
        [slot2, 'succeeded', null, 1],
      ],
    );
    const attempts = await attemptRows(db);
    assert.equal(attempts[0]!.outcome, 'timeout');
    assert.match(attempts[0]!.error ?? '', /by the deadline/);
    assert.deepEqual([attempts[0]!.finished_at, rows[1]!.started_at], [slot2, slot2], 'slot 1 ended on the boundary, not a timer later');
    assert.equal(g.agents[0]!.log.all().filter((l) => /overlap/.test(l)).length, 0, 'no overlap skip');
  });
});

test('overlap guard (pure): only a cycle whose deadline is after the slot makes it a skipped overlap', () => {
  const running = [
    { symbol: 'BTC/USDT', deadline: T0 + 1000 },
    { symbol: 'ETH/USDT', deadline: T0 + 5000 },
  ];
  assert.equal(outlivesSlot(running, 'BTC/USDT', T0 + 1000), false, 'deadline reached: cut, not overlap');
  assert.equal(outlivesSlot(running, 'BTC/USDT', T0 + 500), true, 'would outlive the slot: overlap');
  assert.equal(outlivesSlot(running, 'ETH/USDT', T0 + 1000), true);
  assert.equal(outlivesSlot(running, 'SOL/USDT', T0 + 1000), false, 'another symbol never blocks');
  assert.equal(outlivesSlot([], 'BTC/USDT', T0), false);
});

test('slot claim: two agents on one database fire each slot once; the loser logs that the slot was claimed', async () => {
  await withAgents([{ status: 200 }], { count: 2, slots: 3 }, async (g, stub) => {
    assert.deepEqual(await within(g.exits, 5000, 'the agents to stop'), [0, 0]);
    assert.equal(stub.received.length, 3, 'one POST per slot for both agents together');
    const rows = await cycleRows(g.agents[0]!.database.db);
    assert.deepEqual(rows.map((r) => [r.scheduled_at, r.status]), [1, 2, 3].map((k) => [T0 + k * 1000, 'succeeded']));
    for (const row of rows) {
      const claimedLine = `Slot ${iso(row.scheduled_at)} already claimed by another agent; not firing`;
      const losers = g.agents.map((a, i) => (messages(a.log.out).includes(claimedLine) ? i : -1)).filter((i) => i >= 0);
      assert.equal(losers.length, 1, `slot ${iso(row.scheduled_at)}: exactly one agent lost the claim`);
      const winner = 1 - losers[0]!;
      assert.equal(row.owner, `test-host-${winner}:${1000 + winner}`);
      assert.ok(messages(g.agents[winner]!.log.out).includes(`Starting scalping cycle #${row.id} with Idempotency-Key ${row.idempotency_key}`));
    }
    assert.equal(await g.agents[1]!.database.db.selectFrom('cycles').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow().then((r) => r.n), 3, 'both connections see the same rows');
  });
});

test('SYMBOLS: one request and one cycle row per symbol per slot', async () => {
  await withAgents([{ status: 200 }], { slots: 2, env: () => ({ SYMBOLS: 'BTC/USDT,ETH/USDT' }) }, async (g, stub) => {
    assert.deepEqual(await within(g.exits, 5000, 'the agents to stop'), [0]);
    assert.deepEqual(stub.received.map((r) => JSON.parse(r.body).symbol).sort(), ['BTC/USDT', 'BTC/USDT', 'ETH/USDT', 'ETH/USDT']);
    const rows = await cycleRows(g.agents[0]!.database.db);
    assert.deepEqual(
      rows.map((r) => [r.scheduled_at, r.symbol, r.status]).sort(),
      [
        [T0 + 1000, 'BTC/USDT', 'succeeded'],
        [T0 + 1000, 'ETH/USDT', 'succeeded'],
        [T0 + 2000, 'BTC/USDT', 'succeeded'],
        [T0 + 2000, 'ETH/USDT', 'succeeded'],
      ],
    );
    assert.equal(new Set(rows.map((r) => r.idempotency_key)).size, 4);
    assert.deepEqual(new Set(rows.map((r) => r.idempotency_key)), new Set(stub.received.map((r) => r.headers['idempotency-key'])));
    const out = messages(g.agents[0]!.log.out);
    for (const r of rows) assert.ok(out.includes(`Starting scalping cycle #${r.id} (${r.symbol}) with Idempotency-Key ${r.idempotency_key}`), `start line of #${r.id}`);
  });
});

test('ENABLE_SCHEDULER=false: no call at all (not even readiness), idle until stopped, then exit 0', async () => {
  const gate = async () => assert.fail('a disabled agent must not wait for anything but the stop signal');
  await withAgents([{ status: 200 }], { gate, env: () => ({ ENABLE_SCHEDULER: 'false', WAIT_FOR_READY: 'true', RUN_ON_START: 'true' }) }, async (g, stub) => {
    const state = await Promise.race([g.exits.then(() => 'exited'), new Promise((r) => setTimeout(() => r('running'), 150))]);
    assert.equal(state, 'running', 'still up after 150 ms');
    g.stop.abort();
    assert.deepEqual(await within(g.exits, 5000, 'the agents to stop'), [0]);
    assert.equal(stub.received.length, 0);
    assert.equal(stub.healthChecks, 0);
    assert.deepEqual(await cycleRows(g.agents[0]!.database.db), []);
    assert.deepEqual(messages(g.agents[0]!.log.err), ['Scheduler disabled (ENABLE_SCHEDULER=false): no calls will be made; idle until stopped']);
  });
});

test('readiness: waits for Diego /health (down at first, then up) and Miguel, logging each wait, then runs', async () => {
  const port = await freePort();
  const diegoUrl = `http://127.0.0.1:${port}`;
  let diego: DiegoStub | undefined;
  let waits = 0;
  const next = lockstep(1);
  // The first two readiness waits find nothing listening; during the second, Diego comes up on that port.
  const gate = async (g: AgentGroup, i: number) => {
    if (++waits === 2) diego = await startDiegoStub([{ status: 200 }], { port });
    if (waits > 2) await next(g, i);
  };
  try {
    // The group's own stub plays Miguel, up from the start.
    const env = (miguelUrl: string) => ({ DIEGO_URL: diegoUrl, MIGUEL_URL: miguelUrl, WAIT_FOR_READY: 'true' });
    await withAgents([{ status: 200 }], { gate, env }, async (g, miguel) => {
      assert.deepEqual(await within(g.exits, 5000, 'the agents to stop'), [0]);
      const agent = g.agents[0]!;
      const out = messages(agent.log.out);
      const waitsLogged = out.filter((l) => l.startsWith('Waiting for'));
      assert.equal(waitsLogged.length, 2);
      assert.match(waitsLogged[0]!, new RegExp(`^Waiting for Diego at ${diegoUrl}/health \\(ECONNREFUSED.*\\); retrying in 500 ms$`));
      assert.match(waitsLogged[1]!, new RegExp(`^Waiting for Diego at ${diegoUrl}/health \\(ECONNREFUSED.*\\); retrying in 1000 ms$`));
      assert.deepEqual(agent.sleeps.slice(0, 2), [500, 1000]);
      assert.ok(out.indexOf(`Diego is ready at ${diegoUrl}`) > out.indexOf(waitsLogged[1]!));
      assert.ok(out.indexOf(`Miguel is ready at ${miguel.url}`) > out.indexOf(`Diego is ready at ${diegoUrl}`));
      assert.ok(out.findIndex((l) => l.startsWith(`Starting scalping cycle #1 `)) > out.indexOf(`Miguel is ready at ${miguel.url}`));
      assert.equal(diego!.healthChecks, 1);
      assert.equal(diego!.received.length, 1);
      assert.equal(miguel.received.length, 0, 'Miguel is only probed');
      assert.equal(miguel.healthChecks, 1);
    });
  } finally {
    await diego?.close();
  }
});

test('READY_TIMEOUT_MS: when Diego never comes up, the agent gives up with exit status 1 and makes no cycle', async () => {
  const closed = `http://127.0.0.1:${await freePort()}`;
  const gate = async () => {}; // readiness waits only: it never gets to a slot
  await withAgents([{ status: 200 }], { gate, env: () => ({ DIEGO_URL: closed, WAIT_FOR_READY: 'true', READY_TIMEOUT_MS: '2000', RUN_ON_START: 'true' }) }, async (g) => {
    assert.deepEqual(await within(g.exits, 5000, 'the agents to stop'), [1]);
    const agent = g.agents[0]!;
    const sleeps = agent.sleeps;
    assert.deepEqual(sleeps.slice(0, 2), [500, 1000]);
    assert.equal(sleeps.reduce((a, b) => a + b, 0) <= 2000, true, `waits ${JSON.stringify(sleeps)} stay within READY_TIMEOUT_MS`);
    assert.match(messages(agent.log.err).at(-1)!, new RegExp(`^Diego not ready at ${closed} after \\d+ ms \\(READY_TIMEOUT_MS=2000\\): ECONNREFUSED`));
    assert.deepEqual(await cycleRows(agent.database.db), []);
  });
});
