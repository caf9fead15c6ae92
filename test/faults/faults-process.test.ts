import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../../src/store/open.ts';
import type { Database } from '../../src/store/port.ts';
import type { CliProcess } from '../helpers/cli-process.ts';
import { analysisOk, type DiegoStub, type Reply } from '../helpers/diego-stub.ts';
import { attemptRows, cycleRows } from '../helpers/history-rows.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';

// The built CLI (dist/src/cli.js) killed and stopped for real, against a real stub and a real SQLite file.

/** Quiet, fast settings: every second, no readiness wait, no Miguel, no stats. */
function agentEnv(stub: DiegoStub, path: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    DIEGO_URL: stub.url,
    MIGUEL_URL: '',
    WAIT_FOR_READY: 'false',
    CRON_PATTERN: '* * * * * *',
    DATABASE_URL: path,
    STATS_INTERVAL_MS: '0',
    ...extra,
  };
}

const hang: Reply = () => {}; // holds the request: the agent is mid-attempt until it is stopped or killed

/** A pattern (read in UTC) whose one slot a day is 12 hours away, and the startup cycle: fired at once, deadline far. */
function startupOnly(): Record<string, string> {
  const far = new Date(Date.now() + 12 * 3_600_000);
  return { RUN_ON_START: 'true', CRON_PATTERN: `${far.getUTCSeconds()} ${far.getUTCMinutes()} ${far.getUTCHours()} * * *` };
}

/**
 * A pattern whose slot comes in 1-2 s, with a second one 5 s later for an agent that started too slowly to catch the
 * first: whichever it fires, its deadline (the next slot) is at least 5 s on.
 */
function slotSoon(): Record<string, string> {
  const first = new Date(Date.now() + 2000).getUTCSeconds();
  return { RUN_ON_START: 'false', CRON_PATTERN: `${first},${(first + 5) % 60} * * * * *` };
}

/** Asks SQLite whether the file (opened read-only, as an operator would after a crash) is sound. */
async function integrityCheck(db: Database): Promise<string> {
  const rows = await sql<{ integrity_check: string }>`PRAGMA integrity_check`.execute(db.db);
  return rows.rows.map((r) => r.integrity_check).join('; ');
}

test('SIGTERM during an attempt: graceful, the rows closed (attempt aborted, cycle interrupted), exit 0 within SHUTDOWN_GRACE_MS + 1 s', async (t) => {
  const s = scene(t);
  const stub = await s.stub([hang]);
  const path = join(s.dir(), 'history.db');
  // Hourly, so the startup cycle's deadline (the next slot) is far off and only the shutdown can end its attempt.
  const cli = s.cli(['run'], agentEnv(stub, path, { RUN_ON_START: 'true', SHUTDOWN_GRACE_MS: '800', CRON_PATTERN: '0 0 * * * *' }));
  await until(() => stub.received.length === 1, 'the attempt to reach Diego');
  const termAt = performance.now();
  cli.kill('SIGTERM');
  const exit = await cli.exited;
  const tookMs = exit.at - termAt;
  assert.equal(exit.code, 0, cli.stderr.join('\n'));
  assert.ok(tookMs >= 700 && tookMs < 800 + 1000, `exited ${tookMs.toFixed(0)} ms after SIGTERM`);
  const db = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  try {
    const [cycle] = await cycleRows(db.db);
    assert.deepEqual([cycle?.status, cycle?.reason, cycle?.attempts], ['interrupted', 'shutdown', 1]);
    assert.ok(cycle!.finished_at !== null);
    const [attempt] = await attemptRows(db.db);
    assert.deepEqual([attempt?.outcome, attempt?.request_id], ['aborted', stub.received[0]!.headers['x-request-id']]);
    assert.ok(attempt!.finished_at !== null);
  } finally {
    await db.close();
  }
  assert.ok(cli.stderr.some((l) => /still running after SHUTDOWN_GRACE_MS=800; aborting/.test(l)));
  assert.ok(cli.stdout.some((l) => /\] \[SCHEDULER\] Stopped$/.test(l)));
});

test('SIGKILL during an attempt, 50 times on one database with a restart after each: sound file, no row lost, dead cycles interrupted, no slot fired twice', async (t) => {
  const s = scene(t);
  const stub = await s.stub([hang]);
  const path = join(s.dir(), 'history.db');
  const KILLS = 50;
  for (let i = 0; i < KILLS; i++) {
    // Mostly the startup cycle (fired at once); every tenth life waits for a scheduled slot instead. Either way the
    // cycle's deadline (its next slot) is far off, so the attempt is still open when the kill lands: with an
    // every-second pattern a loaded machine let the deadline end it first ('timeout' instead of 'aborted').
    const scheduled = i % 10 === 9;
    const before = stub.received.length;
    const life = s.cli(['run'], agentEnv(stub, path, { TZ: 'UTC', ...(scheduled ? slotSoon() : startupOnly()) }));
    await until(() => stub.received.length > before, `life ${i + 1}: its POST`, 20_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${[...life.stdout, ...life.stderr].join('\n')}`);
    });
    life.kill('SIGKILL');
    const exit = await life.exited;
    assert.equal(exit.signal, 'SIGKILL');
    const db = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
    try {
      assert.equal(await integrityCheck(db), 'ok', `after kill ${i + 1}`);
      if (i > 0) {
        // This life started after the previous kill: its recovery marked the previous dead cycle.
        const cycles = await cycleRows(db.db);
        const previous = cycles.find((c) => c.idempotency_key === stub.received[before - 1]!.headers['idempotency-key']);
        assert.equal(previous?.status, 'interrupted', `life ${i + 1} recovered the cycle killed in life ${i}`);
      }
    } finally {
      await db.close();
    }
  }
  // One last life, stopped cleanly: it recovers the 50th.
  const stub2 = await s.stub([{ status: 200, body: analysisOk() }]);
  const cli = s.cli(['run'], agentEnv(stub2, path, { RUN_ON_START: 'false' }));
  await cli.line(/Scalping cycle completed successfully/);
  cli.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0);

  const db = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  try {
    assert.equal(await integrityCheck(db), 'ok');
    const cycles = await cycleRows(db.db);
    const attempts = await attemptRows(db.db);
    const posts = stub.received;
    assert.equal(posts.length, KILLS, 'one POST per life: no retry, no second fire');
    const byKey = new Map(cycles.map((c) => [c.idempotency_key, c]));
    const slots = new Map<string, number>();
    for (const p of posts) {
      const cycle = byKey.get(String(p.headers['idempotency-key']));
      assert.ok(cycle, 'every POST has its cycle row: none lost');
      assert.equal(cycle.status, 'interrupted');
      assert.equal(cycle.reason, 'agent_died');
      assert.equal(cycle.attempts, 1);
      const attempt = attempts.find((a) => a.request_id === p.headers['x-request-id']);
      assert.ok(attempt, 'and its attempt row');
      assert.equal(attempt.cycle_id, cycle.id);
      assert.equal(attempt.outcome, 'aborted');
      const slot = `${cycle.trigger}@${cycle.scheduled_at}`;
      slots.set(slot, (slots.get(slot) ?? 0) + 1);
    }
    assert.equal(slots.size, KILLS, 'fifty distinct slots');
    assert.ok([...slots.values()].every((n) => n === 1), 'no slot fired twice');
    assert.equal(cycles.filter((c) => c.status === 'running').length, 0, 'nothing left running');
    assert.equal(attempts.filter((a) => a.outcome === null).length, 0, 'no attempt left open');
  } finally {
    await db.close();
  }
});

test('two agents on one database: each slot fired once, both keep running until stopped', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const path = join(s.dir(), 'history.db');
  const env = agentEnv(stub, path, { RUN_ON_START: 'false', SHUTDOWN_GRACE_MS: '2000' });
  // The second starts once the first has created and migrated the file (two migrating at once is another test).
  const first = s.cli(['run'], env);
  const agents: CliProcess[] = [first];
  await first.line(/Next fire time/);
  const second = s.cli(['run'], env);
  agents.push(second);
  await second.line(/Next fire time/);
  const SLOTS = 6;
  const decided = (a: CliProcess) => a.stdout.filter((l) => /Starting scalping cycle #\d+ with Idempotency-Key [0-9a-f-]{36}$|already claimed by another agent/.test(l)).length;
  await until(() => agents.every((a) => decided(a) >= SLOTS), `each agent to decide ${SLOTS} slots`, 15_000);
  for (const a of agents) a.kill('SIGTERM');
  const exits = await Promise.all(agents.map((a) => a.exited));
  assert.deepEqual(exits.map((e) => e.code), [0, 0], 'both ran until stopped');

  const db = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  const cycles = await cycleRows(db.db);
  await db.close();
  const keys = stub.received.map((r) => String(r.headers['idempotency-key']));
  assert.equal(new Set(keys).size, keys.length, 'one POST per cycle');
  assert.deepEqual(cycles.map((c) => c.idempotency_key).sort(), [...keys].sort(), 'each POST is one cycle row');
  assert.equal(new Set(cycles.map((c) => c.scheduled_at)).size, cycles.length, 'each slot once');
  assert.ok(cycles.length >= SLOTS);
  const claimedElsewhere = agents.map((a) => a.stdout.filter((l) => /already claimed by another agent/.test(l)).length);
  const started = agents.map((a) => a.stdout.filter((l) => /Starting scalping cycle #\d+ with Idempotency-Key [0-9a-f-]{36}$/.test(l)).length);
  assert.equal(started[0]! + started[1]!, cycles.length, 'every cycle was run by exactly one of them');
  assert.ok(claimedElsewhere[0]! + claimedElsewhere[1]! >= SLOTS, 'the other one stood down for each slot');
});
