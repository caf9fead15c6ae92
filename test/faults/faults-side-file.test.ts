import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { openDatabase } from '../../src/store/open.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { scene } from '../helpers/scene.ts';
import { until, within } from '../helpers/wait.ts';

// SIGKILL during a database outage (issue 15, "known and now measured": 10 of 14 POSTs had no record anywhere).

test('SIGKILL during a database lock: what the queue held is in the side file, replayed at the next start; every POST has its record', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const dir = s.dir();
  const path = join(dir, 'history.db');
  const env = { DIEGO_URL: stub.url, MIGUEL_URL: '', WAIT_FOR_READY: 'false', RUN_ON_START: 'false', CRON_PATTERN: '* * * * * *', DATABASE_URL: path, STATS_INTERVAL_MS: '0' };
  const first = s.cli(['run'], env);
  await first.line(/Scalping cycle completed successfully/);
  const locker = await openDatabase({ kind: 'sqlite', path });
  s.defer(() => locker.close());
  await sql.raw('BEGIN EXCLUSIVE').execute(locker.db);
  const postsAtLock = stub.received.length;
  await first.line(/Database unavailable/);
  await until(() => stub.received.length >= postsAtLock + 4, 'slots fired during the lock', 10_000);
  first.kill('SIGKILL');
  await first.exited;
  const postsAtKill = stub.received.length;
  await sql.raw('ROLLBACK').execute(locker.db);
  const left = readdirSync(dir).filter((f) => f.startsWith('history.db-queue-'));

  const second = s.cli(['run'], env);
  const postsAtRestart = stub.received.length;
  await until(() => stub.received.length >= postsAtRestart + 1, 'a cycle of the second agent', 10_000);
  await second.line(/Scalping cycle completed successfully/);
  second.kill('SIGTERM');
  assert.equal((await within(second.exited, 10_000, 'the agent to stop')).code, 0, second.stderr.join('\n'));

  const cycles = await cycleRows(locker.db);
  const keys = new Set(cycles.map((c) => c.idempotency_key));
  const posted = stub.received.map((r) => String(r.headers['idempotency-key']));
  assert.deepEqual(posted.filter((k) => !keys.has(k)), [], 'every POST Diego saw has its record');
  assert.deepEqual(cycles.filter((c) => c.status === 'running'), [], 'none left running');
  const duringLock = cycles.filter((c) => posted.slice(postsAtLock, postsAtKill).includes(c.idempotency_key));
  assert.ok(duringLock.filter((c) => c.status === 'succeeded').length >= 3, JSON.stringify(duringLock.map((c) => c.status)));
  // How: the killed agent's side file, replayed by the next start (said so), then removed.
  assert.deepEqual(left, [`history.db-queue-${first.pid}`], 'the side file of the killed agent');
  assert.ok(second.stderr.concat(second.stdout).some((l) => l.includes(`Replayed `) && l.includes(`queued write(s) from ${join(dir, left[0]!)}, left by an agent that stopped during a database outage`)));
  assert.deepEqual(readdirSync(dir).filter((f) => f.includes('-queue-')), [], 'replayed, the side file is gone');
  console.log(`${postsAtKill - postsAtLock} POSTs between the lock and SIGKILL, ${duringLock.length} of them recorded through the side file`);
});
