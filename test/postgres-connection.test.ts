import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { sql } from 'kysely';
import { PG_URL, pgAdmin, tempDatabaseOn } from './helpers/backends.ts';

// A PostgreSQL restart or failover ends the server side of every connection, including one the agent holds between
// two queries. That must be an error for the query, never an uncaught exception (found by ha-outage.test.ts, where a
// replica crashed when the server stopped while its claim transaction held a connection).

test('[postgres] the server ends a connection held between two queries: that query fails, nothing is thrown uncaught, the next query works', async () => {
  const t = await tempDatabaseOn('postgres');
  const uncaught: unknown[] = [];
  const record = (err: unknown) => uncaught.push(err);
  process.on('uncaughtException', record);
  try {
    const outcome = await t.db
      .transaction()
      .execute(async (tx) => {
        const { rows } = await sql<{ pid: number }>`select pg_backend_pid() as pid`.execute(tx);
        await pgAdmin(PG_URL, (c) => c.query('select pg_terminate_backend($1)', [rows[0]!.pid]));
        // The termination notice reaches the connection while no query runs on it.
        await delay(300);
        await sql`select 1`.execute(tx);
        return 'committed';
      })
      .catch((err: Error) => err);
    assert.ok(outcome instanceof Error, `the transaction fails: ${String(outcome)}`);
    assert.deepEqual(uncaught, [], 'no uncaught exception');
    const { rows } = await sql<{ one: number }>`select 1 as one`.execute(t.db);
    assert.equal(Number(rows[0]!.one), 1, 'a new connection answers');
  } finally {
    process.off('uncaughtException', record);
    await t.cleanup();
  }
});
