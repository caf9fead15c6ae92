import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { everySecondAgent } from '../helpers/cli-process.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { openDatabase } from '../../src/store/open.ts';
import { scene } from '../helpers/scene.ts';
import { mountTmpfs } from '../helpers/tmpfs.ts';
import { until, within } from '../helpers/wait.ts';

// Files the agent keeps beside it, attacked or removed while it runs (issue 15): each case runs the real CLI.

const agentEnv = (diego: string, db: string) => everySecondAgent(diego, db, { STATS_INTERVAL_MS: '0' });

test('METRICS_FILE: a link planted at the temporary name is not followed, and the file is 0644 under umask 000', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const dir = s.dir();
  const metrics = join(dir, 'pmf.prom');
  const victim = join(dir, 'victim.txt');
  writeFileSync(victim, 'not yours\n');
  const umask = process.umask(0o000); // the spawned agent inherits it
  const cli = s.cli(['run'], { ...agentEnv(stub.url, join(dir, 'history.db')), METRICS_FILE: metrics });
  process.umask(umask);
  // Planted before the agent (still loading Node) can write its first metrics file.
  symlinkSync(victim, `${metrics}.${cli.pid}.tmp`);
  await cli.line(/Scalping cycle completed successfully/);
  await until(() => readFileSync(metrics, 'utf8').includes('pmf_scheduler_cycles_total{status="succeeded"} 1'), 'the metrics file to count a cycle');
  assert.equal(readFileSync(victim, 'utf8'), 'not yours\n', 'the link target is untouched');
  const made = lstatSync(metrics);
  assert.ok(made.isFile(), 'the metrics file is a regular file');
  assert.equal(made.mode & 0o777, 0o644);
  cli.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0, cli.stderr.join('\n'));
});

test('start-up: a read-only database left with its -wal and -shm files by a crash exits 2 with one line, like one without them', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const dir = join(s.dir(), 'data');
  mkdirSync(dir);
  // Root ignores permission bits: a read-only mount is what makes the file read-only for it.
  const asRoot = process.getuid?.() === 0;
  const mount = asRoot ? mountTmpfs(dir, 'size=4m') : undefined;
  if (mount && 'refused' in mount) {
    t.skip(`read-only variant skipped: running as root and ${mount.refused}`);
    return;
  }
  if (mount) s.defer(() => mount.unmount());
  const db = join(dir, 'history.db');
  const crashed = s.cli(['run'], agentEnv(stub.url, db));
  await crashed.line(/Scalping cycle completed successfully/);
  crashed.kill('SIGKILL');
  await crashed.exited;
  assert.ok(existsSync(`${db}-wal`) && existsSync(`${db}-shm`), 'a crash leaves -wal and -shm beside the database');
  if (mount) mount.remount('ro');
  else chmodSync(db, 0o444);

  const again = s.cli(['run'], agentEnv(stub.url, db));
  const exit = await within(again.exited, 10_000, 'the agent to refuse the read-only database');
  assert.equal(exit.code, 2, [...again.stdout, ...again.stderr].join('\n'));
  assert.equal(again.stderr.length, 1, again.stderr.join('\n'));
  assert.match(again.stderr[0]!, new RegExp(`Cannot use database ${db}: .*readonly.*must be writable`));
});

test('the database file deleted mid-run: found at the next heartbeat, logged as a storage fault, recreated with every record, before and after', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const db = join(s.dir(), 'history.db');
  const cli = s.cli(['run'], agentEnv(stub.url, db));
  const completed = () => cli.stdout.filter((l) => /Scalping cycle completed successfully/.test(l)).length;
  await until(() => completed() >= 2, 'two cycles before the deletion', 10_000);
  rmSync(db); // as `rm history.db` does: its -wal and -shm stay
  const fault = await cli.line(/Storage fault: /, 15_000); // the heartbeat is every 10 s
  assert.match(fault, new RegExp(`Storage fault: Database file ${db} was deleted while in use: recreated it at its path from the open connection, every record kept`));
  const atFault = completed();
  await until(() => completed() >= atFault + 2, 'cycles after the recreation', 10_000);

  const health = s.cli(['healthcheck'], { DATABASE_URL: db });
  assert.equal((await within(health.exited, 10_000, 'healthcheck')).code, 0, [...health.stdout, ...health.stderr].join('\n'));

  cli.kill('SIGTERM');
  assert.equal((await within(cli.exited, 10_000, 'the agent to stop')).code, 0, cli.stderr.join('\n'));
  const opened = await openDatabase({ kind: 'sqlite', path: db }, { readonly: true });
  const cycles = await cycleRows(opened.db);
  await opened.close();
  const keys = new Set(cycles.map((c) => c.idempotency_key));
  const posted = stub.received.map((r) => String(r.headers['idempotency-key']));
  assert.deepEqual(posted.filter((k) => !keys.has(k)), [], 'every POST Diego saw has its cycle in the file at the path');
  assert.ok(cycles.length >= atFault + 2, `${cycles.length} cycles`);
  assert.ok(cycles.every((c) => c.status === 'succeeded'), JSON.stringify(cycles.map((c) => c.status)));
});
