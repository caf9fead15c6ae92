import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { migrations } from '../../migrations/index.ts';
import { DatabaseOpenError } from '../../src/store/port.ts';
import { openDatabase } from '../../src/store/open.ts';
import { createHistoryStore } from '../../src/store/history/history-store.ts';
import type { NewCycle } from '../../src/store/port.ts';
import { runtimeSqliteDriver } from '../../src/store/sqlite/driver.ts';
import { loadableSqliteDrivers, tempDatabase, tempDir } from '../helpers/temp-db.ts';

// The same suite for every driver this runtime loads: better-sqlite3 on Node 20, node:sqlite under Deno, both on Node 22+.
const drivers = await loadableSqliteDrivers();

test('the runtime picks a driver it can load', () => {
  assert.ok(drivers.includes(runtimeSqliteDriver()), `${runtimeSqliteDriver()} not in ${drivers.join(', ')}`);
});

const T = 1_767_225_600_123; // epoch ms beyond 2^32, as every time column holds
const cycle = (scheduledAt: number): NewCycle => ({
  symbol: 'BTC/USDT',
  timeframe: '1h',
  trigger: 'schedule',
  scheduledAt,
  deadlineAt: scheduledAt + 60_000,
  startedAt: scheduledAt + 3,
  idempotencyKey: `key-${scheduledAt}`,
  owner: 'host:42',
});

async function openError(promise: Promise<unknown>): Promise<DatabaseOpenError> {
  const err = await promise.then(() => undefined, (e: unknown) => e);
  assert.ok(err instanceof DatabaseOpenError, `expected a DatabaseOpenError, got ${String(err)}`);
  return err;
}

for (const driver of drivers) {
  test(`[${driver}] a new file is created, migrated, and opened in WAL mode with full sync, busy timeout and foreign keys`, async () => {
    const db = await tempDatabase({ driver });
    try {
      const setting = async (name: string) => Object.values((await sql.raw<Record<string, unknown>>(`PRAGMA ${name}`).execute(db.db)).rows[0]!)[0];
      assert.equal(await setting('journal_mode'), 'wal');
      assert.equal(await setting('synchronous'), 2); // FULL
      assert.equal(await setting('busy_timeout'), 5000);
      assert.equal(await setting('foreign_keys'), 1);
      const applied = await db.db.selectFrom('kysely_migration' as never).select('name' as never).orderBy('name' as never).execute();
      assert.deepEqual(applied, Object.keys(migrations).sort().map((name) => ({ name })));
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] history rows round-trip as plain objects, with exact epoch-ms times, NULLs and generated ids`, async () => {
    const db = await tempDatabase({ driver });
    try {
      const store = createHistoryStore(db.db, (s) => s);
      const id = await store.claimCycle(cycle(T));
      assert.equal(id, 1);
      assert.equal(await store.claimCycle(cycle(T)), undefined, 'the same slot is claimed once');
      const attempt = await store.startAttempt({ cycleId: 1, number: 1, requestId: 'r-1', startedAt: T + 5 });
      assert.equal(attempt, 1);
      await store.finishAttempt(attempt, { finishedAt: T + 80, sentAt: T + 6, durationMs: 75, outcome: 'ok', httpStatus: 200 });
      await store.finishCycle(1, { finishedAt: T + 81, status: 'succeeded', attempts: 1, httpStatus: 200, summary: 'BUY', executed: true });
      assert.equal(await store.recordSkipped(cycle(T + 1000), 'overlap', 'previous cycle still running'), true);

      // Ids are left out: the ignored duplicate claim may use one up.
      const rows = (await db.db.selectFrom('cycles').selectAll().orderBy('id').execute()).map(({ id: _, ...row }) => row);
      assert.deepEqual(rows, [
        { symbol: 'BTC/USDT', timeframe: '1h', trigger: 'schedule', scheduled_at: T, deadline_at: T + 60_000, started_at: T + 3, finished_at: T + 81, status: 'succeeded', attempts: 1, reason: null, error: null, http_status: 200, summary: 'BUY', executed: 1, idempotency_key: `key-${T}`, owner: 'host:42', lease_until: null, execution_off: null, execution_failed: 0 },
        { symbol: 'BTC/USDT', timeframe: '1h', trigger: 'schedule', scheduled_at: T + 1000, deadline_at: T + 61_000, started_at: T + 1003, finished_at: T + 1003, status: 'skipped', attempts: 0, reason: 'overlap', error: 'previous cycle still running', http_status: null, summary: null, executed: 0, idempotency_key: `key-${T + 1000}`, owner: 'host:42', lease_until: null, execution_off: null, execution_failed: 0 },
      ]);
      const attempts = await db.db.selectFrom('attempts').selectAll().execute();
      assert.deepEqual(attempts, [{ id: 1, cycle_id: 1, number: 1, request_id: 'r-1', started_at: T + 5, finished_at: T + 80, duration_ms: 75, outcome: 'ok', http_status: 200, error: null, response_excerpt: null, sent_at: T + 6 }]);
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] an undefined parameter binds as NULL and statements report changes and the last rowid`, async () => {
    const db = await tempDatabase({ driver });
    try {
      assert.deepEqual((await sql<{ v: null }>`SELECT ${undefined} AS v`.execute(db.db)).rows, [{ v: null }]);
      const inserted = await sql`INSERT INTO cycles (symbol, timeframe, trigger, scheduled_at, deadline_at, started_at, status, idempotency_key, owner)
        VALUES ('ETH/USDT', '1h', 'schedule', ${T}, ${T}, ${T}, 'running', 'k', 'o')`.execute(db.db);
      assert.equal(inserted.insertId, 1n);
      assert.equal(inserted.numAffectedRows, 1n);
      const updated = await db.db.updateTable('cycles').set({ status: 'failed' }).where('status', '=', 'running').executeTakeFirst();
      assert.equal(updated.numUpdatedRows, 1n);
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] stream() iterates rows; a failing transaction rolls back`, async () => {
    const db = await tempDatabase({ driver });
    try {
      const store = createHistoryStore(db.db, (s) => s);
      for (const at of [T, T + 1000, T + 2000]) await store.claimCycle(cycle(at));
      const streamed: number[] = [];
      for await (const row of db.db.selectFrom('cycles').select('scheduled_at').orderBy('id').stream()) streamed.push(row.scheduled_at);
      assert.deepEqual(streamed, [T, T + 1000, T + 2000]);

      await assert.rejects(
        db.db.transaction().execute(async (tx) => {
          await tx.deleteFrom('cycles').execute();
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.equal((await db.db.selectFrom('cycles').select('id').execute()).length, 3);
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] constraint and read-only write errors carry better-sqlite3's SQLITE_ codes`, async () => {
    const db = await tempDatabase({ driver });
    try {
      const store = createHistoryStore(db.db, (s) => s);
      await store.claimCycle(cycle(T));
      await store.startAttempt({ cycleId: 1, number: 1, requestId: 'a', startedAt: T });
      const dup = await store.startAttempt({ cycleId: 1, number: 1, requestId: 'b', startedAt: T }).then(() => undefined, (e: { code?: string }) => e);
      assert.match(dup?.code ?? '', /^SQLITE_CONSTRAINT/);

      // A reader opened beside the open writer sees its committed rows (WAL) and cannot write.
      const reader = await openDatabase({ kind: 'sqlite', path: db.path }, { readonly: true, driver });
      try {
        assert.deepEqual(await reader.db.selectFrom('cycles').select(['id', 'status']).execute(), [{ id: 1, status: 'running' }]);
        const write = await reader.db.deleteFrom('cycles').execute().then(() => undefined, (e: { code?: string }) => e);
        assert.equal(write?.code, 'SQLITE_READONLY');
      } finally {
        await reader.close();
      }
    } finally {
      await db.cleanup();
    }
  });

  test(`[${driver}] open errors have the same kinds: missing, not_database (file untouched), not_writable`, async () => {
    const t = tempDir();
    try {
      const missing = join(t.dir, 'missing.db');
      assert.equal((await openError(openDatabase({ kind: 'sqlite', path: missing }, { readonly: true, driver }))).kind, 'missing');

      const text = join(t.dir, 'notes.db');
      const content = 'not a database\n'.repeat(400);
      writeFileSync(text, content);
      for (const readonly of [false, true]) {
        const err = await openError(openDatabase({ kind: 'sqlite', path: text }, { readonly, driver }));
        assert.equal(err.kind, 'not_database', `readonly=${readonly}: ${err.message}`);
        assert.match(err.message, /is not a SQLite database/);
      }
      assert.equal(readFileSync(text, 'utf8'), content, 'the file was left untouched');

      const blocker = join(t.dir, 'file');
      writeFileSync(blocker, '');
      const underFile = await openError(openDatabase({ kind: 'sqlite', path: join(blocker, 'history.db') }, { driver }));
      assert.equal(underFile.kind, 'not_writable');
      mkdirSync(join(t.dir, 'dir.db'));
      const directory = await openError(openDatabase({ kind: 'sqlite', path: join(t.dir, 'dir.db') }, { driver }));
      assert.equal(directory.kind, 'not_writable');
    } finally {
      t.cleanup();
    }
  });

  test(`[${driver}] a read-only open of an empty SQLite file neither migrates nor writes it`, async () => {
    const t = tempDir();
    try {
      const path = join(t.dir, 'empty.db');
      writeFileSync(path, '');
      const reader = await openDatabase({ kind: 'sqlite', path }, { readonly: true, driver });
      try {
        const tables = await sql<{ name: string }>`SELECT name FROM sqlite_master`.execute(reader.db);
        assert.deepEqual(tables.rows, []);
      } finally {
        await reader.close();
      }
      assert.equal(readFileSync(path).length, 0);
    } finally {
      t.cleanup();
    }
  });
}
