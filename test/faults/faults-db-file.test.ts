import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, join } from 'node:path';
import { everySecondAgent } from '../helpers/cli-process.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { openDatabase } from '../../src/store/open.ts';
import { scene } from '../helpers/scene.ts';
import { until, within } from '../helpers/wait.ts';

// The database file (or its directory) deleted or replaced under a running agent, each time just before a stop or
// between two heartbeats (issue 24 items 4, 5, 6): the real CLI, real files.

const Sqlite = createRequire(import.meta.url)('better-sqlite3') as new (path: string, opts?: { readonly?: boolean }) => {
  exec(sql: string): void;
  prepare(sql: string): { all(): unknown[] };
  close(): void;
};

const agentEnv = (diego: string, db: string) => everySecondAgent(diego, db, { STATS_INTERVAL_MS: '0' });
const completedIn = (lines: string[]) => lines.filter((l) => /Scalping cycle completed successfully/.test(l)).length;

/** The Idempotency-Keys Diego received that have no cycle in the file at `db`. */
async function postsWithoutRecord(db: string, posted: string[]) {
  const opened = await openDatabase({ kind: 'sqlite', path: db }, { readonly: true });
  const cycles = await cycleRows(opened.db);
  await opened.close();
  const keys = new Set(cycles.map((c) => c.idempotency_key));
  return { missing: posted.filter((k) => !keys.has(k)), cycles };
}

test('the database file deleted, then SIGTERM before the next heartbeat: the stop finds it, recreates it with every record, exit 0', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const db = join(s.dir(), 'history.db');
  const cli = s.cli(['run'], agentEnv(stub.url, db));
  await until(() => completedIn(cli.stdout) >= 3, 'three cycles', 10_000);
  rmSync(db); // `rm history.db`: the heartbeat (every 10 s, the first at start) has not seen it yet
  cli.kill('SIGTERM');
  const exit = await within(cli.exited, 15_000, 'the agent to stop');
  assert.equal(exit.code, 0, cli.stderr.join('\n'));
  assert.ok(cli.stderr.some((l) => l.includes(`Storage fault: Database file ${db} was deleted while in use: recreated it at its path`)), cli.stderr.join('\n'));
  const { missing, cycles } = await postsWithoutRecord(db, stub.received.map((r) => String(r.headers['idempotency-key'])));
  assert.deepEqual(missing, [], 'every POST Diego saw has its cycle in the file at the path');
  assert.ok(cycles.length >= 3 && cycles.every((c) => c.status === 'succeeded'), JSON.stringify(cycles.map((c) => c.status)));
});

test('`rm -rf` of the database directory: the directory and the file are recreated with every record POSTed before and after, and the stop prints no stack', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const dir = join(s.dir(), 'data');
  const db = join(dir, 'history.db');
  const cli = s.cli(['run'], agentEnv(stub.url, db));
  await until(() => completedIn(cli.stdout) >= 2, 'two cycles', 10_000);
  rmSync(dir, { recursive: true, force: true });
  const fault = await cli.line(/Storage fault: /, 20_000); // the next heartbeat
  assert.match(fault, /was deleted while in use: recreated it at its path from the open connection, every record kept/);
  const atFault = completedIn(cli.stdout);
  await until(() => completedIn(cli.stdout) >= atFault + 2, 'cycles after the recreation', 10_000);
  cli.kill('SIGTERM');
  const exit = await within(cli.exited, 15_000, 'the agent to stop');
  assert.equal(exit.code, 0, cli.stderr.join('\n'));
  assert.deepEqual(cli.stderr.filter((l) => /^\s+at /.test(l)), [], 'no stack trace');
  const { missing, cycles } = await postsWithoutRecord(db, stub.received.map((r) => String(r.headers['idempotency-key'])));
  assert.deepEqual(missing, [], 'every POST Diego saw has its cycle in the recreated file');
  assert.ok(cycles.every((c) => c.status === 'succeeded'), JSON.stringify(cycles.map((c) => c.status)));
});

test('a replaced database file (`mv other.db history.db`): not one write reaches it, the records are printed at the stop, the side file is set aside', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const dir = s.dir();
  const db = join(dir, 'history.db');
  const other = join(dir, 'other.db');
  const made = new Sqlite(other);
  made.exec('CREATE TABLE theirs (x INTEGER); INSERT INTO theirs VALUES (42)');
  made.close();
  const cli = s.cli(['run'], agentEnv(stub.url, db));
  await until(() => completedIn(cli.stdout) >= 2, 'two cycles', 10_000);
  renameSync(other, db);
  const postsBefore = stub.received.length;
  // Refused at its first write after the swap, long before the next heartbeat (10 s).
  await cli.line(/Database unavailable \(.*Database file .* was replaced by another file while in use/, 5_000);
  await until(() => stub.received.length >= postsBefore + 2, 'POSTs after the swap', 10_000);
  // What a reader of the file at the path sees now (SQLite reads the -wal and -shm at its name with it).
  const look = new Sqlite(db, { readonly: true });
  const tables = look.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
  look.close();
  assert.deepEqual(tables, [{ name: 'theirs' }], 'the file at the path holds nothing of ours');
  cli.kill('SIGTERM');
  const exit = await within(cli.exited, 20_000, 'the agent to stop');
  assert.equal(exit.code, 0, cli.stderr.join('\n'));
  assert.ok(cli.stderr.some((l) => /"msg":"unwritten record"/.test(l)), 'the records of the cycles after the swap are printed');
  const left = readdirSync(dir).filter((n) => n.startsWith(`${basename(db)}-queue-`));
  assert.ok(!existsSync(join(dir, `${basename(db)}-queue-${cli.pid}`)), `no side file is left to replay into the impostor: ${left.join(', ')}`);
  assert.ok(left.some((n) => n.endsWith('.unreplayed')), `the side file is set aside: ${left.join(', ')}`);
  const copy = readdirSync(dir).find((n) => n.startsWith(`${basename(db)}.replaced-${cli.pid}-`));
  assert.ok(copy, `the history is copied beside the path: ${readdirSync(dir).join(', ')}`);
  const before = stub.received.slice(0, postsBefore).map((r) => String(r.headers['idempotency-key']));
  assert.deepEqual((await postsWithoutRecord(join(dir, copy), before)).missing, [], 'every POST before the swap has its cycle in the copy');
});
