import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { createRedactor } from '../../src/log/redact.ts';
import { openDatabase } from '../../src/store/open.ts';
import type { Database, OpenOptions } from '../../src/store/port.ts';
import { DEAD_AFTER_DEADLINE_MS, isOrphaned } from '../../src/store/history/leases.ts';
import { createHistoryStore } from '../../src/store/history/history-store.ts';
import type { NewCycle } from '../../src/store/port.ts';
import { CYCLE_LEASE_MS, checkLeases, markInterrupted } from '../../src/store/history/leases.ts';
import { pgTest, tempDatabaseOn, type TestDatabase } from '../helpers/backends.ts';
import { attemptRows, cycleRows } from '../helpers/history-rows.ts';
import { loadableSqliteDrivers } from '../helpers/temp-db.ts';

// The history store on real databases: SQLite files, once per driver this runtime can load, and PostgreSQL, each
// test in a schema of its own.

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

interface StoreBackend {
  name: string;
  fresh(): Promise<TestDatabase>;
  /** Another connection (pool) to the same database. */
  reopen(t: TestDatabase, opts?: OpenOptions): Promise<Database>;
}
const STORE_BACKENDS: StoreBackend[] = [
  ...(await loadableSqliteDrivers()).map((driver) => ({
    name: driver,
    fresh: () => tempDatabaseOn('sqlite', { driver }),
    reopen: (t: TestDatabase, opts: OpenOptions = {}) => openDatabase({ kind: 'sqlite', path: t.path }, { ...opts, driver }),
  })),
  { name: 'postgres', fresh: () => tempDatabaseOn('postgres'), reopen: (t, opts) => openDatabase({ kind: 'postgres', url: t.path }, opts) },
];

for (const { name: driver, fresh, reopen } of STORE_BACKENDS) {

  test(`[${driver}] claimCycle: one row per (symbol, timeframe, trigger, slot); a second claim of the slot gets nothing`, driver === 'postgres' ? pgTest() : {}, async () => {
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

  test(`[${driver}] two connections to one database: only one claims a slot`, driver === 'postgres' ? pgTest() : {}, async () => {
    const db = await fresh();
    const other = await reopen(db);
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

  test(`[${driver}] recordSkipped writes a finished skipped row, and also respects the slot claim`, driver === 'postgres' ? pgTest() : {}, async () => {
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

  test(`[${driver}] attempts open at start and close at the end; finishCycle closes the cycle; secrets are redacted`, driver === 'postgres' ? pgTest() : {}, async () => {
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

  test(`[${driver}] recoverInterrupted: only cycles of dead agents become interrupted (agent_died), their open attempts aborted`, driver === 'postgres' ? pgTest() : {}, async () => {
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

      const alive = new Set([100, self.pid]); // we are alive, of course
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

  test(`[${driver}] a claim carries a lease; checkLeases renews this agent's running cycles and interrupts others' expired ones`, driver === 'postgres' ? pgTest() : {}, async () => {
    const db = await fresh();
    try {
      const store = createHistoryStore(db.db, redact);
      const claim = async (n: number, owner: string) => (await store.claimCycle(cycle({ idempotencyKey: `k${n}`, owner, scheduledAt: NOW + n * 1000, startedAt: NOW + n * 1000 })))!;
      const mine = await claim(1, 'box:42');
      const dead = await claim(2, 'gone:7');
      const live = await claim(3, 'alive:8');
      const done = await claim(4, 'gone:7');
      await store.finishCycle(done, { finishedAt: NOW + 4500, status: 'succeeded', attempts: 1, executed: false });
      await store.startAttempt({ cycleId: dead, number: 1, requestId: 'r-dead', startedAt: NOW + 2000 });
      assert.deepEqual((await cycleRows(db.db)).map((r) => r.lease_until), [...[1, 2, 3].map((n) => NOW + n * 1000 + CYCLE_LEASE_MS), null], 'lease = start + CYCLE_LEASE_MS, until the cycle ends');

      // The live replica renewed a moment ago; the dead one stopped at its claim.
      await db.db.updateTable('cycles').set({ lease_until: NOW + 30_000 }).where('id', '=', live).execute();
      const at = NOW + 2000 + CYCLE_LEASE_MS + 1; // the dead cycle's lease has just run out, and the own one's too
      const check = await checkLeases(db.db, 'box:42', at);
      assert.deepEqual(check, { renewed: 1, expired: [{ id: dead, owner: 'gone:7' }] });

      const byId = new Map((await cycleRows(db.db)).map((r) => [r.id, r]));
      assert.deepEqual([byId.get(mine)!.status, byId.get(mine)!.lease_until], ['running', at + CYCLE_LEASE_MS], 'its own lease is renewed, never expired');
      assert.deepEqual([byId.get(live)!.status, byId.get(live)!.lease_until], ['running', NOW + 30_000], 'a fresh lease is left alone');
      assert.equal(byId.get(done)!.status, 'succeeded');
      const d = byId.get(dead)!;
      assert.deepEqual([d.status, d.reason, d.finished_at, d.attempts, d.lease_until], ['interrupted', 'lease_expired', at, 1, null]);
      assert.match(d.error!, /stopped renewing the lease/);
      const [attempt] = await attemptRows(db.db, dead);
      assert.deepEqual([attempt!.outcome, attempt!.finished_at], ['aborted', at]);
      assert.deepEqual(await checkLeases(db.db, 'box:42', at), { renewed: 1, expired: [] }, 'nothing left to expire');
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] markInterrupted re-checks the lease in its update: an owner that renewed after the read keeps its cycle`, driver === 'postgres' ? pgTest() : {}, async () => {
    const db = await fresh();
    try {
      const store = createHistoryStore(db.db, redact);
      const id = (await store.claimCycle(cycle()))!;
      // A sweeper read the lease as expired at `at`; the owner renews before the sweeper's update runs.
      const at = NOW + 2 + CYCLE_LEASE_MS + 1;
      await db.db.updateTable('cycles').set({ lease_until: at + CYCLE_LEASE_MS }).where('id', '=', id).execute();
      assert.deepEqual(await markInterrupted(db.db, [id], at, 'lease_expired', at), []);
      assert.equal((await cycleRows(db.db))[0]!.status, 'running');
      assert.deepEqual(await markInterrupted(db.db, [id], at + CYCLE_LEASE_MS + 1, 'lease_expired', at + CYCLE_LEASE_MS + 1), [id]);
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] shared database: RUN_ON_START claims once per interval, not after a run in it; a late scheduled claim yields to it`, driver === 'postgres' ? pgTest() : {}, async () => {
    const db = await fresh();
    try {
      // The claims every backend makes when its database is shared by replicas (PostgreSQL's traits; SQLite's
      // single statement is atomic without a lock).
      const store = createHistoryStore(db.db, redact, { startupOncePerInterval: true, lockForStartupClaim: db.traits.lockForStartupClaim });
      const S = NOW; // the interval's slot, which every replica starting before NOW + 60 s computes
      const startup = (owner: string, over: Partial<NewCycle> = {}) => store.claimCycle(cycle({ trigger: 'startup', scheduledAt: S, startedAt: S + 20_000, owner, idempotencyKey: `start-${owner}`, ...over }));

      const first = await startup('a:1');
      assert.equal(typeof first, 'number', 'nobody ran this interval: the first replica to start fires');
      assert.equal(await startup('b:2'), undefined, 'a second replica starting in the same interval does not');
      assert.equal(await store.claimCycle(cycle({ scheduledAt: S, owner: 'c:3', idempotencyKey: 'late' })), undefined, 'a replica late for the slot S does not fire it after a startup cycle ran in its interval');
      assert.equal(typeof (await store.claimCycle(cycle({ scheduledAt: S + 60_000, owner: 'c:3', idempotencyKey: 'next' }))), 'number', 'the next slot fires as usual');
      assert.equal(await startup('d:4', { scheduledAt: S + 60_000 }), undefined, 'the next interval was run by schedule: no startup fire either');
      assert.equal(typeof (await startup('d:4', { scheduledAt: S + 120_000, idempotencyKey: 'later' })), 'number', 'an interval nobody ran: the startup fires');
      assert.equal(typeof (await store.claimCycle(cycle({ symbol: 'ETH/USDT', trigger: 'startup', scheduledAt: S, idempotencyKey: 'eth' }))), 'number', 'per job: another symbol is another job');

      const rows = await cycleRows(db.db);
      assert.deepEqual(
        rows.map((r) => [r.symbol, r.trigger, r.scheduled_at - S, r.owner, r.status, r.lease_until]),
        [
          ['BTC/USDT', 'startup', 0, 'a:1', 'running', S + 20_000 + CYCLE_LEASE_MS],
          ['ETH/USDT', 'startup', 0, 'box:42', 'running', NOW + 2 + CYCLE_LEASE_MS],
          ['BTC/USDT', 'schedule', 60_000, 'c:3', 'running', NOW + 2 + CYCLE_LEASE_MS],
          ['BTC/USDT', 'startup', 120_000, 'd:4', 'running', S + 20_000 + CYCLE_LEASE_MS],
        ],
      );
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] shared database: startup and scheduled claims of one slot racing from many connections: exactly one fires`, driver === 'postgres' ? pgTest() : {}, async () => {
    const db = await fresh();
    const others = await Promise.all(Array.from({ length: 5 }, () => reopen(db)));
    try {
      const traits = { startupOncePerInterval: true, lockForStartupClaim: db.traits.lockForStartupClaim };
      // Without PostgreSQL's lock about 80% of these rounds fire twice (a startup and a scheduled claim both pass
      // their check before either commits); with it, none.
      for (let round = 0; round < 20; round++) {
        const S = NOW + round * 60_000;
        const claims = [db, ...others].map((conn, i) => {
          const store = createHistoryStore(conn.db, redact, traits);
          // Half the replicas claim slot S on schedule just as the other half start in its interval.
          const trigger = (i + round) % 2 === 0 ? 'schedule' : 'startup';
          return store.claimCycle(cycle({ trigger, scheduledAt: S, startedAt: S + 10, owner: `r:${i}`, idempotencyKey: `${round}-${i}` }));
        });
        const won = (await Promise.all(claims)).filter((id) => id !== undefined);
        assert.equal(won.length, 1, `round ${round}: ${won.length} claims fired`);
      }
      assert.equal((await cycleRows(db.db)).length, 20);
    } finally {
      for (const o of others) await o.close();
      await db.cleanup();
    }
  });

  test(`[${driver}] a reader sees the writer's rows while the writer stays open (SQLite: WAL, busy timeout), and cannot write`, driver === 'postgres' ? pgTest() : {}, async () => {
    const db = await fresh();
    try {
      if (db.backend === 'sqlite') {
        assert.equal((await sql<{ journal_mode: string }>`PRAGMA journal_mode`.execute(db.db)).rows[0]!.journal_mode, 'wal');
        assert.equal((await sql<{ timeout: number }>`PRAGMA busy_timeout`.execute(db.db)).rows[0]!.timeout > 0, true);
      }
      const store = createHistoryStore(db.db, redact);
      await store.claimCycle(cycle());
      const reader = await reopen(db, { readonly: true });
      try {
        assert.deepEqual((await cycleRows(reader.db)).map((r) => r.status), ['running']);
        await assert.rejects(reader.db.deleteFrom('cycles').execute(), /read-?only/i, 'a reader never writes');
      } finally {
        await reader.close();
      }
    } finally {
      await db.cleanup();
    }
  });
}

test('isOrphaned with leases: an expired lease is dead anywhere, a fresh one on another host is alive; our own REPLICA_ID is a previous life', () => {
  const alive = () => true;
  const row = (owner: string, lease_until: number | null) => ({ owner, deadline_at: NOW + 60_000, lease_until });
  assert.equal(isOrphaned(row('other:9', NOW - 1), NOW, self, alive), true, 'lease expired');
  assert.equal(isOrphaned(row('other:9', NOW), NOW, self, alive), false, 'lease ends exactly now: not yet');
  assert.equal(isOrphaned(row('other:9', NOW + 10_000), NOW, self, alive), false, 'fresh lease of another replica');
  assert.equal(isOrphaned(row('replica-b', NOW + 10_000), NOW, { ...self, replicaId: 'replica-a' }, alive), false, 'another REPLICA_ID');
  assert.equal(isOrphaned(row('replica-a', NOW + 10_000), NOW, { ...self, replicaId: 'replica-a' }, alive), true, 'our own REPLICA_ID: a previous life');
  assert.equal(isOrphaned(row('box:99', NOW + 10_000), NOW, self, (pid) => pid !== 99), true, 'a dead pid on this host needs no lease to expire');
  assert.equal(isOrphaned(row('other:9', null), NOW, self, alive), false, 'no lease (an older row): the other rules decide');
});

test('isOrphaned: past its deadline by a wide margin, or owned on this host by a dead pid or by our own pid', () => {
  const alive = (pid: number) => pid === 100 || pid === self.pid;
  const row = (owner: string, deadline_at = NOW + 60_000) => ({ owner, deadline_at });
  assert.equal(isOrphaned(row('box:42'), NOW, self, alive), true, 'own pid');
  assert.equal(isOrphaned(row('box:99'), NOW, self, alive), true, 'dead pid on this host');
  assert.equal(isOrphaned(row('box:100'), NOW, self, alive), false, 'live pid on this host');
  assert.equal(isOrphaned(row('other:99'), NOW, self, alive), false, 'another host: its pids mean nothing here');
  assert.equal(isOrphaned(row('other:99', NOW - DEAD_AFTER_DEADLINE_MS - 1), NOW, self, alive), true, 'long past its deadline');
  assert.equal(isOrphaned(row('other:99', NOW - DEAD_AFTER_DEADLINE_MS), NOW, self, alive), false, 'exactly at the margin');
  assert.equal(isOrphaned(row('box:not-a-pid'), NOW, self, alive), false);
  assert.equal(isOrphaned(row('fe80::1:99'), NOW, { host: 'fe80::1', pid: 42 }, alive), true, 'a host with colons');
});
