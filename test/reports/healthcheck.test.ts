import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { HEARTBEAT_INTERVAL_MS } from '../../src/agent/upkeep/heartbeat.ts';
import { judgeHealth } from '../../src/reports/health-query.ts';
import { startAgents, type AgentGroup } from '../helpers/agent-harness.ts';
import { PG_URL, tempDatabaseOn, testOnEveryBackend } from '../helpers/backends.ts';
import { spawnCli } from '../helpers/cli-process.ts';
import { freePort, startDiegoStub, type DiegoStub } from '../helpers/diego-stub.ts';
import { runMain } from '../helpers/run-main.ts';
import { seedAgent, seedCycle } from '../helpers/seed-history.ts';
import { withHooks } from '../helpers/slot-hooks.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { until, within } from '../helpers/wait.ts';

// Every test that reads a database runs against SQLite and PostgreSQL (each test in a schema of its own).

const row = (over: Partial<{ started_at: number; stopped_at: number | null; heartbeat_at: number; ready_at: number | null; held_until: number | null; held_back_ms: number | null }> = {}) => ({
  id: 1, owner: 'box:7', host: 'box', pid: 7, version: '1.0.0', cron_pattern: '0 * * * * *', symbols: 'BTC/USDT', started_at: 0, heartbeat_at: 1_000_000, stopped_at: null, ready_at: 0, clock_offset_ms: null, clock_rtt_ms: null, clock_checked_at: null, held_until: null, held_back_ms: null, not_firing: null, exchange_offset_ms: null, exchange_rtt_ms: null, exchange_checked_at: null, fire_clock: null, ...over,
});

test('judgeHealth: fresh, stale, stopped, never ran, and too many failures in a row', () => {
  assert.deepEqual(judgeHealth(row(), 1_004_000, 60_000), { healthy: true, reason: 'agent box:7 (1.0.0): heartbeat 4 s ago' });
  assert.deepEqual(judgeHealth(row(), 1_060_000, 60_000).healthy, true, 'exactly at the limit is still fresh');
  const stale = judgeHealth(row(), 1_060_001, 60_000);
  assert.equal(stale.healthy, false);
  assert.match(stale.reason, /^agent box:7 \(1\.0\.0\): heartbeat stale, last at 1970-01-01T00:16:40\.000Z, 60 s ago \(limit 60 s\)/);
  assert.deepEqual(judgeHealth(row({ stopped_at: 1_000_000 }), 1_000_001, 60_000), { healthy: false, reason: 'agent box:7 (1.0.0) stopped at 1970-01-01T00:16:40.000Z' });
  assert.deepEqual(judgeHealth(undefined, 0, 60_000), { healthy: false, reason: 'no agent has ever run on this database' });
  assert.deepEqual(judgeHealth(row(), 1_000_000, 60_000, { symbol: 'BTC/USDT', streak: 2, limit: 3 }).healthy, true);
  assert.deepEqual(judgeHealth(row(), 1_000_000, 60_000, { symbol: 'BTC/USDT', streak: 3, limit: 3 }), {
    healthy: false,
    reason: 'agent box:7 (1.0.0): 3 consecutive failed cycles for BTC/USDT (limit 3)',
  });
  assert.equal(judgeHealth(row(), 900_000, 60_000).healthy, true, 'a heartbeat from a clock a little ahead is fresh');
});

test('judgeHealth: an agent holding its fire after the clock went back is unhealthy until the hold ends', () => {
  const held = row({ held_until: 1_003_600_000, held_back_ms: 3_600_000 });
  assert.deepEqual(judgeHealth(held, 1_000_000, 60_000), { healthy: false, reason: 'agent box:7 (1.0.0): not firing until 1970-01-12T14:46:40.000Z (the clock went back 3600 s)' });
  assert.equal(judgeHealth(held, 1_003_600_000, 60_000).healthy, false, 'the slot it waits for has not fired yet');
  assert.equal(judgeHealth({ ...held, heartbeat_at: 1_003_600_000 }, 1_003_600_001, 60_000).healthy, true, 'past it: the row is cleared at the next fire; a hold in the past is no hold');
});

testOnEveryBackend('healthcheck: exit 0 on a fresh heartbeat, 1 with the reason when stale or stopped, --max-age', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const now = Date.now();
    const id = await seedAgent(t.db, { host: 'box', pid: 7, startedAt: now - 3_600_000, heartbeatAt: now - 5_000 });
    const fresh = await runMain(['healthcheck', '--db', t.path]);
    assert.deepEqual([fresh.code, fresh.err], [0, []]);
    assert.match(fresh.text, /^healthy: agent box:7 \(1\.0\.0\): heartbeat [5-9] s ago$/);

    await t.db.updateTable('agents').set({ heartbeat_at: now - 90_000 }).where('id', '=', id).execute();
    const stale = await runMain(['healthcheck', '--db', t.path]);
    assert.equal(stale.code, 1);
    assert.match(stale.text, /^unhealthy: agent box:7 \(1\.0\.0\): heartbeat stale, last at .*, 9\d s ago \(limit 60 s\); the agent is hung or was killed$/);
    assert.equal((await runMain(['healthcheck', '--max-age', '2m', '--db', t.path])).code, 0);
    assert.equal((await runMain(['healthcheck', '--max-age', '30s', '--db', t.path])).code, 1);

    await t.db.updateTable('agents').set({ heartbeat_at: now - 1_000, stopped_at: now - 1_000 }).where('id', '=', id).execute();
    const stopped = await runMain(['healthcheck', '--db', t.path]);
    assert.equal(stopped.code, 1);
    assert.match(stopped.text, /^unhealthy: agent box:7 \(1\.0\.0\) stopped at /);
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend("healthcheck judges this host's newest agent when there is one, else the newest of all", async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const now = Date.now();
    await seedAgent(t.db, { host: hostname(), pid: 1, startedAt: now - 60_000, heartbeatAt: now - 2_000 });
    await seedAgent(t.db, { host: 'other-replica', pid: 2, startedAt: now - 1_000, heartbeatAt: now - 1_000, stoppedAt: now - 1_000 });
    const mine = await runMain(['healthcheck', '--db', t.path]);
    assert.equal(mine.code, 0, mine.text);
    assert.match(mine.text, new RegExp(`agent ${hostname()}:1 `));

    await t.db.deleteFrom('agents').where('host', '=', hostname()).execute();
    const other = await runMain(['healthcheck', '--db', t.path]);
    assert.equal(other.code, 1);
    assert.match(other.text, /agent other-replica:2 \(1\.0\.0\) stopped/);
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('healthcheck --max-failures N: unhealthy after N consecutive failed cycles of any of the agent symbols', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const now = Date.now();
    await seedAgent(t.db, { startedAt: now - 3_600_000, heartbeatAt: now, symbols: ['BTC/USDT', 'ETH/USDT'] });
    const base = now - 3_000_000;
    await seedCycle(t.db, { scheduledAt: base, symbol: 'ETH/USDT' });
    for (let i = 1; i <= 3; i++) await seedCycle(t.db, { scheduledAt: base + i * 60_000, symbol: 'ETH/USDT', status: 'failed' });
    await seedCycle(t.db, { scheduledAt: base + 5 * 60_000, symbol: 'ETH/USDT', status: 'skipped' });
    await seedCycle(t.db, { scheduledAt: base, symbol: 'BTC/USDT', status: 'failed' });
    await seedCycle(t.db, { scheduledAt: base + 60_000, symbol: 'BTC/USDT' });

    assert.equal((await runMain(['healthcheck', '--db', t.path])).code, 0, 'without the option failures do not matter');
    assert.equal((await runMain(['healthcheck', '--max-failures', '4', '--db', t.path])).code, 0);
    const sick = await runMain(['healthcheck', '--max-failures', '3', '--db', t.path]);
    assert.equal(sick.code, 1);
    assert.match(sick.text, /^unhealthy: agent test-host:1 \(1\.0\.0\): 3 consecutive failed cycles for ETH\/USDT \(limit 3\)$/);

    await seedCycle(t.db, { scheduledAt: base + 6 * 60_000, symbol: 'ETH/USDT' });
    assert.equal((await runMain(['healthcheck', '--max-failures', '1', '--db', t.path])).code, 0, 'a success ends the streak');
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('healthcheck: never ran, missing database (not created), old schema: 1 with the reason; bad arguments: 2', async (backend) => {
  const t = await tempDatabaseOn(backend);
  const dir = tempDir();
  try {
    const never = await runMain(['healthcheck', '--db', t.path]);
    assert.deepEqual([never.code, never.text], [1, 'unhealthy: no agent has ever run on this database']);

    const path = backend === 'sqlite' ? join(dir.dir, 'missing.db') : PG_URL.replace(/\/test$/, '/missing_db');
    const missing = await runMain(['healthcheck'], { DATABASE_URL: path });
    assert.equal(missing.code, 1, 'Docker reserves exit code 2');
    assert.match(missing.text, /^unhealthy: no agent has ever run: Database .*missing[._]db does not exist/);
    assert.equal(existsSync(path), false);

    const old = await tempDatabaseOn(backend);
    await sql`DROP TABLE agents`.execute(old.db);
    await old.close();
    const oldSchema = await runMain(['healthcheck', '--db', old.path]);
    await old.cleanup();
    assert.equal(oldSchema.code, 1);
    assert.ok(oldSchema.text.startsWith(`unhealthy: no heartbeat recorded in ${old.location} `), oldSchema.text);

    for (const [args, says] of [
      [['--max-failures', 'abc'], /^pmf-scheduler: Invalid --max-failures "abc": expected an integer from 1 to 1000000$/],
      [['--max-failures', '0'], /Invalid --max-failures "0"/],
      [['--max-age', 'soon'], /^pmf-scheduler: Invalid --max-age "soon": expected a duration such as 30m, 2h, 7d or 1h30m$/],
    ] as [string[], RegExp][]) {
      const r = await runMain(['healthcheck', '--db', t.path, ...args]);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.err.length, 1);
      assert.match(r.err[0]!, says);
    }
  } finally {
    await t.cleanup();
    dir.cleanup();
  }
});

testOnEveryBackend('the agent: registers its heartbeat row, refreshes it while it runs, and marks a clean stop (healthcheck then fails at once)', async (backend) => {
  // The database first: on a missing PostgreSQL it throws before the stub is listening, so nothing is left open.
  const t = await tempDatabaseOn(backend);
  const stub = await startDiegoStub([{ status: 200 }]);
  const path = t.path;
  const start = Date.now();
  const seen: { code: number; text: string }[] = [];
  const slots = Math.ceil((3 * HEARTBEAT_INTERVAL_MS) / 1000) + 2;
  // Runs between slots 1 and 2: the agent is alive, its heartbeat fresh.
  const group = await startAgents({
    target: t.target,
    env: { DIEGO_URL: stub.url, SYMBOLS: 'BTC/USDT,ETH/USDT', CRON_PATTERN: '* * * * * *' },
    start,
    gate: withHooks(slots, { 1: async () => seen.push(await runMain(['healthcheck', '--db', path])) }),
  });
  try {
    assert.deepEqual(await within(group.exits, 15_000, 'the agent to stop'), [0]);
    assert.equal(seen[0]?.code, 0, seen[0]?.text);
    assert.match(seen[0]!.text, /^healthy: agent test-host-0:1000 \(\d+\.\d+\.\d+\): heartbeat/);

    const rows = await group.agents[0]!.database.db.selectFrom('agents').selectAll().execute();
    assert.equal(rows.length, 1);
    const r = rows[0]!;
    assert.deepEqual([r.owner, r.host, r.pid, r.cron_pattern, r.symbols], ['test-host-0:1000', 'test-host-0', 1000, '* * * * * *', 'BTC/USDT,ETH/USDT']);
    assert.ok(r.started_at >= start && r.started_at < start + 5_000);
    // Time moved `slots` seconds: the heartbeat was refreshed along the way, the last write being the stop.
    assert.ok(r.stopped_at !== null && r.stopped_at >= start + (slots - 1) * 1000, `stopped_at ${r.stopped_at}`);
    assert.equal(r.heartbeat_at, r.stopped_at);

    const after = await runMain(['healthcheck', '--db', path]);
    assert.equal(after.code, 1);
    assert.match(after.text, /^unhealthy: agent test-host-0:1000 \(.*\) stopped at /);
  } finally {
    await group.close();
    await stub.close();
    await t.cleanup();
  }
});

testOnEveryBackend('the agent refreshes the heartbeat every HEARTBEAT_INTERVAL_MS (at most 30 s)', async (backend) => {
  assert.ok(HEARTBEAT_INTERVAL_MS <= 30_000);
  // The database first: on a missing PostgreSQL it throws before the stub is listening, so nothing is left open.
  const t = await tempDatabaseOn(backend);
  const stub = await startDiegoStub([{ status: 200 }]);
  const beats: number[] = [];
  const start = Date.now();
  const slots = Math.ceil((2.5 * HEARTBEAT_INTERVAL_MS) / 1000);
  const hooks: Record<number, () => Promise<void>> = {};
  let group: AgentGroup | undefined;
  for (let n = 1; n <= slots; n++) {
    hooks[n] = async () => {
      const db = group!.agents[0]!.database.db;
      const r = await db.selectFrom('agents').select('heartbeat_at').executeTakeFirstOrThrow();
      if (beats.at(-1) !== r.heartbeat_at) beats.push(r.heartbeat_at);
    };
  }
  group = await startAgents({ target: t.target, env: { DIEGO_URL: stub.url }, start, gate: withHooks(slots, hooks) });
  try {
    await within(group.exits, 15_000, 'the agent to stop');
    // The first value is the start; then one refresh per interval of the agent's clock.
    assert.ok(beats.length >= 3, `heartbeats seen: ${beats.map((b) => b - start).join(', ')}`);
    for (let i = 1; i < beats.length; i++) {
      const gap = beats[i]! - beats[i - 1]!;
      assert.ok(gap >= HEARTBEAT_INTERVAL_MS && gap < HEARTBEAT_INTERVAL_MS + 2_000, `gap ${gap}`);
    }
  } finally {
    await group.close();
    await stub.close();
    await t.cleanup();
  }
});

test('judgeHealth: an agent still waiting for Diego is said so, healthy without a limit, unhealthy past --max-wait', () => {
  const waiting = row({ started_at: 1_000_000, heartbeat_at: 1_120_000, ready_at: null });
  const ok = judgeHealth(waiting, 1_125_000, 60_000);
  assert.deepEqual(ok, { healthy: true, reason: 'agent box:7 (1.0.0): waiting for Diego since 1970-01-01T00:16:40.000Z (2m 05s), firing nothing until it answers /health; heartbeat 5 s ago' });
  assert.equal(judgeHealth(waiting, 1_125_000, 60_000, undefined, 125_000).healthy, true, 'exactly at the limit');
  assert.deepEqual(judgeHealth(waiting, 1_125_000, 60_000, undefined, 60_000), {
    healthy: false,
    reason: 'agent box:7 (1.0.0): waiting for Diego since 1970-01-01T00:16:40.000Z (2m 05s), firing nothing until it answers /health; limit 1m 00s',
  });
  assert.equal(judgeHealth(row(), 1_004_000, 60_000, undefined, 1).healthy, true, '--max-wait says nothing about a ready agent');
});

test('the built CLI: healthcheck of an agent waiting for Diego at start says so (exit 0), --max-wait makes it unhealthy (exit 1), and it is plainly healthy once Diego answers', async () => {
  const dir = tempDir();
  const db = join(dir.dir, 'h.db');
  const port = await freePort();
  const agent = spawnCli(['run'], { DIEGO_URL: `http://127.0.0.1:${port}`, MIGUEL_URL: '', DATABASE_URL: db, CRON_PATTERN: '0 0 * * * *', RUN_ON_START: 'false' });
  let stub: DiegoStub | undefined;
  const check = async (args: string[]) => {
    const p = spawnCli(['healthcheck', '--db', db, ...args], {});
    const done = await within(p.exited, 10_000, 'healthcheck to exit');
    return { code: done.code, text: p.stdout.filter(Boolean).join('\n') };
  };
  try {
    await agent.line(/Waiting for Diego at /, 15_000);
    const waiting = await check([]);
    assert.equal(waiting.code, 0, waiting.text);
    assert.match(waiting.text, /^healthy: agent .*: waiting for Diego since \S+ \(.*\), firing nothing until it answers \/health; heartbeat \d+ s ago$/);
    const bounded = await check(['--max-wait', '1ms']);
    assert.equal(bounded.code, 1, bounded.text);
    assert.match(bounded.text, /^unhealthy: agent .*: waiting for Diego since .*; limit 1 ms$/);

    stub = await startDiegoStub([{ status: 200 }], { port });
    await agent.line(/Diego is ready at/, 15_000);
    const s = stub;
    let ready = { code: null as number | null, text: '' };
    await until(async () => /heartbeat \d+ s ago$/.test((ready = await check(['--max-wait', '1ms'])).text) && !ready.text.includes('waiting'), 'the ready mark to be written', 10_000);
    assert.equal(ready.code, 0, ready.text);
    assert.equal(s.received.length, 0, 'no slot came in the meantime');
  } finally {
    agent.kill('SIGKILL');
    await within(agent.exited, 5_000, 'the agent to exit').catch(() => {});
    await stub?.close();
    dir.cleanup();
  }
});
