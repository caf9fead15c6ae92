import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { test } from 'node:test';
import { CompiledQuery, Kysely, Migrator, SqliteDialect, sql, type KyselyPlugin, type RootOperationNode } from 'kysely';
import { migrations } from '../../migrations/index.ts';
import { queryCycle, queryHistory } from '../../src/store/history/history-query.ts';
import { lastCycleWithStatus } from '../../src/store/history/cycle-lookups.ts';
import { checkLeases } from '../../src/store/history/leases.ts';
import { openDatabase } from '../../src/store/open.ts';
import { createHistoryStore } from '../../src/store/history/history-store.ts';
import type { NewCycle } from '../../src/store/port.ts';
import type { Schema } from '../../src/store/schema.ts';
import { runtimeSqliteDriver, sqliteOpener } from '../../src/store/sqlite/driver.ts';
import { bytesToUuid, uuidToBytes } from '../../src/store/sqlite/uuid-blobs.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { seedCycle } from '../helpers/seed-history.ts';
import { loadableSqliteDrivers, tempDatabase, tempDir } from '../helpers/temp-db.ts';

// How the history lies in SQLite (issue #3, a year well under 200 MB): the lean indexes of migration 0004 and the
// UUIDs kept as 16 bytes. What is asserted is what the size rests on, and that nothing above the store notices.

const T = Date.UTC(2026, 10, 2, 9, 0, 0);
const drivers = await loadableSqliteDrivers();
const cycle = (scheduledAt: number, over: Partial<NewCycle> = {}): NewCycle => ({
  symbol: 'BTC/USDT',
  timeframe: '1m',
  trigger: 'schedule',
  scheduledAt,
  deadlineAt: scheduledAt + 60_000,
  startedAt: scheduledAt + 2,
  idempotencyKey: randomUUID(),
  owner: 'host:1',
  ...over,
});

test('a UUID packs into its 16 bytes and back; any other value passes through', () => {
  const id = randomUUID();
  const bytes = uuidToBytes(id);
  assert.ok(bytes instanceof Uint8Array && bytes.byteLength === 16);
  assert.equal(Buffer.from(bytes).toString('hex'), id.replaceAll('-', ''));
  assert.equal(bytesToUuid(bytes), id);
  assert.equal(bytesToUuid(Buffer.from(bytes)), id, 'a Buffer (better-sqlite3) as a Uint8Array (node:sqlite)');
  for (const other of ['req-1', id.toUpperCase(), `${id}-1`, '', null, 42]) assert.equal(uuidToBytes(other), other);
  for (const other of [new Uint8Array(15), 'text', null]) assert.equal(bytesToUuid(other), other);
});

for (const driver of drivers) {
  test(`[${driver}] UUIDs are stored as 16-byte blobs and read back as the strings written; other ids stay text`, async () => {
    const db = await tempDatabase({ driver });
    try {
      const store = createHistoryStore(db.db, (s) => s);
      const key = randomUUID();
      const requestId = randomUUID();
      const id = (await store.claimCycle(cycle(T, { idempotencyKey: key })))!;
      await store.startAttempt({ cycleId: id, number: 1, requestId, startedAt: T + 5 });
      await store.startAttempt({ cycleId: id, number: 2, requestId: 'req-2', startedAt: T + 9 });
      assert.equal(await store.recordSkipped(cycle(T + 60_000, { idempotencyKey: 'hand-written' }), 'overlap', 'still running'), true);

      const stored = await sql<{ t: string; n: number }>`SELECT typeof(idempotency_key) AS t, length(idempotency_key) AS n FROM cycles ORDER BY id`.execute(db.db);
      assert.deepEqual(stored.rows, [{ t: 'blob', n: 16 }, { t: 'text', n: 12 }]);
      const attempts = await sql<{ t: string; n: number }>`SELECT typeof(request_id) AS t, length(request_id) AS n FROM attempts ORDER BY number`.execute(db.db);
      assert.deepEqual(attempts.rows, [{ t: 'blob', n: 16 }, { t: 'text', n: 5 }]);

      assert.deepEqual((await cycleRows(db.db)).map((r) => r.idempotency_key), [key, 'hand-written']);
      const found = await queryCycle(db.db, id);
      assert.deepEqual(found?.attempts.map((a) => a.requestId), [requestId, 'req-2']);
    } finally {
      await db.cleanup();
    }
  });
}

test('migration 0004 on a database written before it: same rows, five indexes become two, the slot still claimed once', async () => {
  const dir = tempDir();
  try {
    const path = join(dir.dir, 'history.db');
    // The schema as 0003 left it, with rows as written then (ids as text, a summary in the long form).
    const raw = (await sqliteOpener(runtimeSqliteDriver()))(path, false);
    const old = new Kysely<Schema>({ dialect: new SqliteDialect({ database: raw }) });
    const before = Object.fromEntries(Object.entries(migrations).filter(([name]) => name < '0004'));
    const { error, results } = await new Migrator({ db: old, provider: { getMigrations: async () => before } }).migrateToLatest();
    assert.equal(error, undefined);
    assert.deepEqual(results?.map((r) => r.migrationName), ['0001_init', '0002_agents', '0003_leases']);
    for (let i = 0; i < 30; i++) {
      await seedCycle(old, { beforeSentAt: true, scheduledAt: T + i * 60_000, status: i % 10 === 3 ? 'failed' : 'succeeded', summary: i % 10 === 3 ? null : '{ success: true, signal: BUY }' });
    }
    const rowsBefore = await old.selectFrom('cycles').selectAll().orderBy('id').execute();
    await old.destroy();

    const upgraded = await openDatabase({ kind: 'sqlite', path });
    try {
      const indexes = await sql<{ name: string; sql: string }>`SELECT name, sql FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'cycles' AND sql IS NOT NULL ORDER BY name`.execute(upgraded.db);
      assert.deepEqual(indexes.rows.map((r) => r.name), ['cycles_slot_time', 'cycles_unsettled']);
      assert.match(indexes.rows[0]!.sql, /UNIQUE INDEX "cycles_slot_time" on "cycles" \("scheduled_at", "symbol", "timeframe", "trigger"\)/i);
      assert.match(indexes.rows[1]!.sql, /where "status" <> 'succeeded'/i);
      // Migration 0008 (live control) adds `execution_off`, null on every row written before it; 0011 (guards)
      // `execution_failed`, 0 on every one.
      assert.deepEqual(await upgraded.db.selectFrom('cycles').selectAll().orderBy('id').execute(), rowsBefore.map((r) => ({ ...r, execution_off: null, execution_failed: 0 })), 'every row as it was');

      const store = createHistoryStore(upgraded.db, (s) => s);
      assert.equal(await store.claimCycle(cycle(T)), undefined, 'a slot recorded before the upgrade is still taken');
      assert.equal(await store.claimCycle(cycle(T, { trigger: 'startup' })) !== undefined, true, 'the key is still (symbol, timeframe, trigger, slot)');
      assert.equal(await store.claimCycle(cycle(T, { symbol: 'ETH/USDT' })) !== undefined, true);
      assert.equal(await store.claimCycle(cycle(T + 30 * 60_000)) !== undefined, true);
      assert.equal(await store.claimCycle(cycle(T + 30 * 60_000)), undefined, 'a new slot is claimed once');
    } finally {
      await upgraded.close();
    }
  } finally {
    dir.cleanup();
  }
});

/** Runs `run` on a Kysely that records its statements; returns SQLite's plan of each, as one line of text. */
async function plansOf(db: Kysely<Schema>, run: (db: Kysely<Schema>) => Promise<unknown>): Promise<string[]> {
  const nodes: RootOperationNode[] = [];
  const capture: KyselyPlugin = {
    transformQuery: ({ node }) => (nodes.push(node), node),
    transformResult: async ({ result }) => result,
  };
  await run(db.withPlugin(capture));
  const plans: string[] = [];
  for (const node of nodes) {
    const q = db.getExecutor().compileQuery(node, { queryId: 'plan' });
    const r = await db.executeQuery<{ detail: string }>(CompiledQuery.raw(`EXPLAIN QUERY PLAN ${q.sql}`, [...q.parameters]));
    plans.push(r.rows.map((row) => row.detail).join(' | '));
  }
  return plans;
}

test('the queries of history, stats and leases read through the two indexes, the partial one for what it holds', async () => {
  const db = await tempDatabase();
  try {
    for (let i = 0; i < 400; i++) {
      await seedCycle(db.db, { scheduledAt: T + i * 60_000, symbol: i % 2 ? 'ETH/USDT' : 'BTC/USDT', status: i % 40 === 7 ? 'failed' : 'succeeded' });
    }
    await sql`ANALYZE`.execute(db.db);
    const until = T + 400 * 60_000;
    const cases: [string, (k: Kysely<Schema>) => Promise<unknown>, RegExp][] = [
      ['history', (k) => queryHistory(k, { limit: 20 }), /SCAN cycles USING INDEX cycles_slot_time/],
      ['history --symbol', (k) => queryHistory(k, { limit: 20, symbol: 'ETH/USDT' }), /USING INDEX cycles_slot_time/],
      ['history --since', (k) => queryHistory(k, { limit: 20, since: until - 3_600_000 }), /SEARCH cycles USING INDEX cycles_slot_time \(scheduled_at>\?\)/],
      ['history --status failed', (k) => queryHistory(k, { limit: 20, status: 'failed' }), /SEARCH cycles USING INDEX cycles_unsettled \(status=\?\)/],
      ['history --status running', (k) => queryHistory(k, { limit: 20, status: 'running' }), /USING INDEX cycles_unsettled/],
      ['last failure', (k) => lastCycleWithStatus(k, 'failed', until, 'BTC/USDT'), /USING INDEX cycles_unsettled/],
      ['last success', (k) => lastCycleWithStatus(k, 'succeeded', until, 'BTC/USDT'), /USING INDEX cycles_slot_time/],
      ['lease renewal', (k) => checkLeases(k, 'host:1', until), /USING INDEX cycles_unsettled/],
    ];
    for (const [name, run, expected] of cases) {
      const plans = await plansOf(db.db, run);
      assert.ok(plans.length > 0, name);
      for (const p of plans.filter((p) => p.includes('cycles'))) assert.doesNotMatch(p, /SCAN cycles(?! USING)/, `${name}: no full scan of cycles: ${p}`);
      assert.ok(plans.some((p) => expected.test(p)), `${name}: ${plans.join(' ; ')}`);
    }
  } finally {
    await db.cleanup();
  }
});
