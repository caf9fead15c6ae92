import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createRedactor } from '../src/redact.ts';
import { openDatabase } from '../src/store/database.ts';
import { DEAD_AFTER_DEADLINE_MS, createHistoryStore, isOrphaned, type NewCycle } from '../src/store/history-store.ts';
import { attemptRows, cycleRows } from './helpers/history-rows.ts';
import { loadableSqliteDrivers, tempDatabase } from './helpers/temp-db.ts';

// The history store on real SQLite files, once per driver this runtime can load.

const NOW = Date.UTC(2024, 0, 22, 10, 0, 0);
const self = { host: 'box', pid: 42 };
const redact = createRedactor(['s3cret-token']);

const cycle = (over: Partial<NewCycle> = {}): NewCycle => ({
  symbol: 'BTC/USDT',
  timeframe: '1m',
  trigger: 'schedule',
  scheduledAt: NOW,
  deadlineAt: NOW + 60_000,
  startedAt: NOW + 2,
  idempotencyKey: 'key-1',
  owner: 'box:42',
  ...over,
});

for (const driver of await loadableSqliteDrivers()) {
  const fresh = () => tempDatabase({ driver });

  test(`[${driver}] claimCycle: one row per (symbol, timeframe, trigger, slot); a second claim of the slot gets nothing`, async () => {
    const db = await fresh();
    try {
      const store = createHistoryStore(db.db, redact);
      const first = await store.claimCycle(cycle());
      assert.equal(typeof first, 'number');
      assert.equal(await store.claimCycle(cycle({ idempotencyKey: 'key-2', owner: 'other:7' })), undefined);
      const others = [cycle({ trigger: 'startup' }), cycle({ symbol: 'ETH/USDT' }), cycle({ timeframe: '5m' }), cycle({ scheduledAt: NOW + 1000 })];
      for (const c of others) assert.equal(typeof (await store.claimCycle(c)), 'number', JSON.stringify(c));
      const rows = await cycleRows(db.db);
      assert.equal(rows.length, 5);
      const claimed = rows.find((r) => r.id === first)!;
      assert.deepEqual(
        [claimed.status, claimed.idempotency_key, claimed.owner, claimed.started_at, claimed.deadline_at, claimed.attempts, claimed.finished_at],
        ['running', 'key-1', 'box:42', NOW + 2, NOW + 60_000, 0, null],
      );
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] two connections to one file: only one claims a slot`, async () => {
    const db = await fresh();
    const other = await openDatabase({ kind: 'sqlite', path: db.path }, { driver });
    try {
      const a = createHistoryStore(db.db, redact);
      const b = createHistoryStore(other.db, redact);
      const results = await Promise.all([a.claimCycle(cycle({ owner: 'a:1' })), b.claimCycle(cycle({ owner: 'b:2' }))]);
      assert.equal(results.filter((r) => r !== undefined).length, 1);
      assert.equal((await cycleRows(other.db)).length, 1);
    } finally {
      await other.close();
      await db.cleanup();
    }
  });

  test(`[${driver}] recordSkipped writes a finished skipped row, and also respects the slot claim`, async () => {
    const db = await fresh();
    try {
      const store = createHistoryStore(db.db, redact);
      assert.equal(await store.recordSkipped(cycle(), 'overlap', 'previous cycle still running'), true);
      assert.equal(await store.recordSkipped(cycle(), 'overlap', 'again'), false);
      assert.equal(await store.claimCycle(cycle()), undefined, 'a skipped slot is taken');
      const [row] = await cycleRows(db.db);
      assert.deepEqual([row!.status, row!.reason, row!.error, row!.finished_at, row!.attempts], ['skipped', 'overlap', 'previous cycle still running', NOW + 2, 0]);
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] attempts open at start and close at the end; finishCycle closes the cycle; secrets are redacted`, async () => {
    const db = await fresh();
    try {
      const store = createHistoryStore(db.db, redact);
      const id = (await store.claimCycle(cycle()))!;
      const attempt = await store.startAttempt({ cycleId: id, number: 1, requestId: 'req-1', startedAt: NOW + 3 });
      assert.deepEqual((await attemptRows(db.db)).map((a) => [a.id, a.cycle_id, a.number, a.request_id, a.started_at, a.finished_at, a.outcome]), [[attempt, id, 1, 'req-1', NOW + 3, null, null]]);
      await assert.rejects(store.startAttempt({ cycleId: id, number: 1, requestId: 'req-dup', startedAt: NOW + 4 }), 'one row per attempt number');

      await store.finishAttempt(attempt, { finishedAt: NOW + 50, durationMs: 47, outcome: 'http_error', httpStatus: 502, error: 'HTTP 502 from http://u:pw@diego:3001 with s3cret-token', excerpt: 'Bearer s3cret-token' });
      await store.finishCycle(id, { finishedAt: NOW + 60, status: 'failed', attempts: 1, reason: 'http_error', error: 'last: s3cret-token', httpStatus: 502, summary: '{ success: false }', executed: false });

      const [a] = await attemptRows(db.db);
      assert.deepEqual([a!.finished_at, a!.duration_ms, a!.outcome, a!.http_status, a!.error, a!.response_excerpt], [NOW + 50, 47, 'http_error', 502, 'HTTP 502 from http://u:***@diego:3001 with ***', 'Bearer ***']);
      const [c] = await cycleRows(db.db);
      assert.deepEqual([c!.status, c!.finished_at, c!.attempts, c!.reason, c!.error, c!.http_status, c!.summary, c!.executed], ['failed', NOW + 60, 1, 'http_error', 'last: ***', 502, '{ success: false }', 0]);
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] recoverInterrupted: only cycles of dead agents become interrupted (agent_died), their open attempts aborted`, async () => {
    const db = await fresh();
    try {
      const store = createHistoryStore(db.db, redact);
      const claim = async (key: string, owner: string, deadlineAt = NOW + 60_000) => (await store.claimCycle(cycle({ idempotencyKey: key, owner, scheduledAt: NOW + Number(key.slice(1)) * 1000, deadlineAt })))!;
      const ownPid = await claim('k1', 'box:42'); // a previous life of this agent (same pid after a container restart)
      const deadPid = await claim('k2', 'box:99');
      const livePid = await claim('k3', 'box:100');
      const otherHost = await claim('k4', 'elsewhere:5');
      const longPast = await claim('k5', 'elsewhere:6', NOW - DEAD_AFTER_DEADLINE_MS - 1);
      const finished = await claim('k6', 'box:99');
      await store.finishCycle(finished, { finishedAt: NOW, status: 'succeeded', attempts: 1, executed: false });

      const closedAttempt = await store.startAttempt({ cycleId: ownPid, number: 1, requestId: 'r1', startedAt: NOW });
      await store.finishAttempt(closedAttempt, { finishedAt: NOW + 10, durationMs: 10, outcome: 'http_error', httpStatus: 503 });
      await store.startAttempt({ cycleId: ownPid, number: 2, requestId: 'r2', startedAt: NOW + 20 });
      await store.startAttempt({ cycleId: livePid, number: 1, requestId: 'r3', startedAt: NOW + 20 });

      const alive = new Set([100]);
      const at = NOW + 5000;
      assert.equal(await store.recoverInterrupted(at, self, (pid) => alive.has(pid)), 3);
      assert.equal(await store.recoverInterrupted(at, self, (pid) => alive.has(pid)), 0, 'nothing left to recover');

      const byId = new Map((await cycleRows(db.db)).map((r) => [r.id, r]));
      for (const id of [ownPid, deadPid, longPast]) {
        const r = byId.get(id)!;
        assert.deepEqual([r.status, r.reason, r.error, r.finished_at], ['interrupted', 'agent_died', 'the agent stopped before the cycle finished', at], `cycle ${r.owner}`);
      }
      assert.equal(byId.get(ownPid)!.attempts, 2, 'attempt count set from the rows');
      assert.equal(byId.get(deadPid)!.attempts, 0);
      for (const id of [livePid, otherHost]) assert.equal(byId.get(id)!.status, 'running', byId.get(id)!.owner);
      assert.equal(byId.get(finished)!.status, 'succeeded');

      const attempts = await attemptRows(db.db);
      assert.deepEqual(
        attempts.map((a) => [a.request_id, a.outcome, a.finished_at]),
        [
          ['r1', 'http_error', NOW + 10],
          ['r2', 'aborted', at],
          ['r3', null, null],
        ],
      );
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] a reader sees the writer's rows while the writer stays open (WAL, busy timeout)`, async () => {
    const db = await fresh();
    try {
      assert.equal((await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(db.db)).rows[0]!.journal_mode, 'wal');
      assert.equal((await sql<{ timeout: number }>`PRAGMA busy_timeout`.execute(db.db)).rows[0]!.timeout > 0, true);
      const store = createHistoryStore(db.db, redact);
      await store.claimCycle(cycle());
      const reader = await openDatabase({ kind: 'sqlite', path: db.path }, { readonly: true, driver });
      try {
        assert.deepEqual((await cycleRows(reader.db)).map((r) => r.status), ['running']);
      } finally {
        await reader.close();
      }
    } finally {
      await db.cleanup();
    }
  });
}

test('isOrphaned: past its deadline by a wide margin, or owned on this host by a dead pid or by our own pid', () => {
  const alive = (pid: number) => pid === 100;
  const row = (owner: string, deadline_at = NOW + 60_000) => ({ owner, deadline_at });
  assert.equal(isOrphaned(row('box:42'), NOW, self, alive), true, 'own pid');
  assert.equal(isOrphaned(row('box:99'), NOW, self, alive), true, 'dead pid on this host');
  assert.equal(isOrphaned(row('box:100'), NOW, self, alive), false, 'live pid on this host');
  assert.equal(isOrphaned(row('other:99'), NOW, self, alive), false, 'another host: its pids mean nothing here');
  assert.equal(isOrphaned(row('other:99', NOW - DEAD_AFTER_DEADLINE_MS - 1), NOW, self, alive), true, 'long past its deadline');
  assert.equal(isOrphaned(row('other:99', NOW - DEAD_AFTER_DEADLINE_MS), NOW, self, alive), false, 'exactly at the margin');
  assert.equal(isOrphaned(row('box:not-a-pid'), NOW, self, alive), false);
  assert.equal(isOrphaned(row('fe80::1:99'), NOW, { host: 'fe80::1', pid: 1 }, alive), true, 'a host with colons');
});
