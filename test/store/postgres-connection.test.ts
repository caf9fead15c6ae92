import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import type { Socket } from 'node:net';
import { sql } from 'kysely';
import pg from 'pg';
import { missingColumn, otherSchemaGone, postgresMayHaveCommitted } from '../../src/store/postgres/faults.ts';
import { columnElsewhere } from '../../src/store/postgres/open.ts';
import { PG_URL, pgAdmin, pgTest, tempDatabaseOn } from '../helpers/backends.ts';

// A PostgreSQL restart or failover ends the server side of every connection, including one the agent holds between
// two queries. That must be an error for the query, never an uncaught exception (found by ha-outage.test.ts, where a
// replica crashed when the server stopped while its claim transaction held a connection).

test('[postgres] the server ends a connection held between two queries: that query fails, nothing is thrown uncaught, the next query works', pgTest(), async () => {
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

test("[postgres] migrating beside a schema being dropped: the server's errors naming another schema are told apart from ours", pgTest(), async () => {
  // The errors kysely's introspection meets when another schema goes mid-query, made by the real server.
  const errorOf = (query: string) => pgAdmin(PG_URL, (c) => c.query(query).then(() => undefined, (err: unknown) => err));
  const relationGone = await errorOf('select * from "pmf_gone_elsewhere".attempts_v');
  const schemaGone = await errorOf(`select has_schema_privilege('pmf_gone_elsewhere', 'USAGE')`);
  assert.deepEqual([(relationGone as { code: string }).code, (schemaGone as { code: string }).code], ['42P01', '3F000']);
  assert.equal(otherSchemaGone(relationGone, 'pmf_mine'), 'pmf_gone_elsewhere');
  assert.equal(otherSchemaGone(schemaGone, 'pmf_mine'), 'pmf_gone_elsewhere');
  // Our own schema missing, an unqualified relation or another error is a real failure: no retry.
  assert.equal(otherSchemaGone(relationGone, 'pmf_gone_elsewhere'), undefined);
  assert.equal(otherSchemaGone(schemaGone, 'pmf_gone_elsewhere'), undefined);
  assert.equal(otherSchemaGone(await errorOf('select * from attempts_nowhere'), 'pmf_mine'), undefined);
  assert.equal(otherSchemaGone(await errorOf('select 1/0'), 'pmf_mine'), undefined);
});

test('[postgres] a missing column that names no schema is told apart: another schema\'s unless ours has that relation without it', pgTest(), async () => {
  const t = await tempDatabaseOn('postgres');
  const other = `pmf_other_${process.pid}`;
  try {
    const ours = (await sql<{ s: string }>`select current_schema() as s`.execute(t.db)).rows[0]!.s;
    // pg_get_serial_sequence() on a column that is not there: the error kysely's introspection gets mid-drop.
    const errorOf = (relation: string, column: string) =>
      pgAdmin(PG_URL, (c) => c.query('select pg_get_serial_sequence($1, $2)', [relation, column]).then(() => assert.fail('no error'), (err: unknown) => err));
    await pgAdmin(PG_URL, (c) => c.query(`create schema "${other}"; create table "${other}".control_pauses (x int); create table "${other}".elsewhere_only (x int)`));
    const theirs = await errorOf(`"${other}".control_pauses`, 'audit_id');
    assert.deepEqual(missingColumn(theirs), { column: 'audit_id', relation: 'control_pauses' });
    assert.equal(await columnElsewhere(t.db, theirs), true, 'ours has control_pauses.audit_id: not ours');
    assert.equal(await columnElsewhere(t.db, await errorOf(`"${other}".elsewhere_only`, 'x2')), true, 'ours has no such relation: not ours');
    assert.equal(await columnElsewhere(t.db, await errorOf(`"${ours}".cycles`, 'nope')), false, 'our relation lacks it: a real failure');
    assert.equal(missingColumn(await errorOf('1/0', 'x')), undefined, 'another error');
  } finally {
    await pgAdmin(PG_URL, (c) => c.query(`drop schema if exists "${other}" cascade`));
    await t.cleanup();
  }
});

// A claim that fails may still have been committed when its connection died after the statement left; a failure
// on connecting, or any answer from the server, means it was not. Each error here is made by the real server or pg.
test('[postgres] which failed writes may have been committed: a session ended mid-query or a socket lost, not a refused connect or an error answer', pgTest(), async () => {
  const failureOf = async (url: string, work: (c: pg.Client) => Promise<unknown>) => {
    const c = new pg.Client({ connectionString: url });
    c.on('error', () => {});
    try {
      await c.connect();
      await work(c);
    } catch (err) {
      return err;
    } finally {
      await c.end().catch(() => {});
    }
    assert.fail('the work should have failed');
  };
  const terminated = await failureOf(PG_URL, async (c) => {
    const { rows } = await c.query<{ pid: number }>('select pg_backend_pid() as pid');
    const sleeping = c.query('select pg_sleep(10)');
    sleeping.catch(() => {}); // it fails before it is awaited below
    await delay(100);
    await pgAdmin(PG_URL, (admin) => admin.query('select pg_terminate_backend($1)', [rows[0]!.pid]));
    await sleeping;
  });
  const lost = await failureOf(PG_URL, async (c) => {
    const sleeping = c.query('select pg_sleep(10)');
    sleeping.catch(() => {}); // it fails before it is awaited below
    await delay(100);
    (c as unknown as { connection: { stream: Socket } }).connection.stream.destroy();
    await sleeping;
  });
  const refused = await failureOf('postgres://postgres@127.0.0.1:1/test', async () => {});
  const answered = await failureOf(PG_URL, (c) => c.query('select 1/0'));
  assert.deepEqual(
    [terminated, lost, refused, answered].map((e) => [(e as Error).message, postgresMayHaveCommitted(e)]),
    [
      ['terminating connection due to administrator command', true],
      ['Connection terminated unexpectedly', true],
      ['connect ECONNREFUSED 127.0.0.1:1', false],
      ['division by zero', false],
    ],
  );
});
