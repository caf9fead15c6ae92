import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { RETENTION_FIRST_DELAY_MS } from '../../src/agent/upkeep/retention.ts';
import { formatProblem, parseConfig } from '../../src/config.ts';
import { countPrunable, pruneHistory } from '../../src/store/history/prune.ts';
import { startAgents } from '../helpers/agent-harness.ts';
import { PG_URL, tempDatabaseOn, testOnEveryBackend } from '../helpers/backends.ts';
import { startDiegoStub, type DiegoStub } from '../helpers/diego-stub.ts';
import { attemptRows, cycleRows } from '../helpers/history-rows.ts';
import { runMain } from '../helpers/run-main.ts';
import { seedAgent, seedCycle } from '../helpers/seed-history.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

// Every test that reads a database runs against SQLite and PostgreSQL (each test in a schema of its own).

const DAY = 86_400_000;
const CUTOFF = Date.UTC(2024, 0, 22);

testOnEveryBackend('prune boundaries: finished cycles scheduled before the cutoff go with their attempts; at the cutoff, running ones and newer stay', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const old = await seedCycle(t.db, { scheduledAt: CUTOFF - DAY, attempts: [{ outcome: 'http_error' }, { outcome: 'ok' }] });
    const justBefore = await seedCycle(t.db, { scheduledAt: CUTOFF - 1, status: 'failed' });
    const skipped = await seedCycle(t.db, { scheduledAt: CUTOFF - 2 * DAY, status: 'skipped' });
    const running = await seedCycle(t.db, { scheduledAt: CUTOFF - 3 * DAY, status: 'running', attempts: [{ outcome: null }] });
    const atCutoff = await seedCycle(t.db, { scheduledAt: CUTOFF });
    const newer = await seedCycle(t.db, { scheduledAt: CUTOFF + DAY });
    await seedAgent(t.db, { host: 'gone', startedAt: CUTOFF - 10 * DAY, heartbeatAt: CUTOFF - 9 * DAY, stoppedAt: CUTOFF - 9 * DAY });
    await seedAgent(t.db, { host: 'crashed', startedAt: CUTOFF - 10 * DAY, heartbeatAt: CUTOFF - 8 * DAY });
    await seedAgent(t.db, { host: 'alive', startedAt: CUTOFF - 10 * DAY, heartbeatAt: CUTOFF + DAY });

    assert.deepEqual(await countPrunable(t.db, CUTOFF), { cycles: 3, attempts: 3 });
    assert.deepEqual(await pruneHistory(t.db, CUTOFF), { cycles: 3, attempts: 3 });
    assert.deepEqual((await cycleRows(t.db)).map((r) => r.id), [running, atCutoff, newer]);
    assert.deepEqual([...new Set((await attemptRows(t.db)).map((a) => a.cycle_id))], [running, atCutoff, newer]);
    assert.deepEqual((await t.db.selectFrom('agents').select('host').execute()).map((a) => a.host), ['alive']);
    for (const id of [old, justBefore, skipped]) assert.equal((await cycleRows(t.db)).some((r) => r.id === id), false);
    assert.deepEqual(await pruneHistory(t.db, CUTOFF), { cycles: 0, attempts: 0 }, 'nothing left to prune');
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('prune in batches: every batch is deleted, `between` runs between batches and can stop the work early', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    for (let i = 0; i < 10; i++) await seedCycle(t.db, { scheduledAt: CUTOFF - DAY + i * 60_000 });
    let pauses = 0;
    assert.deepEqual(await pruneHistory(t.db, CUTOFF, { batchSize: 3, between: async () => (pauses++, true) }), { cycles: 10, attempts: 10 });
    assert.equal(pauses, 3, 'batches of 3, 3, 3, 1: a pause between each full batch');

    for (let i = 0; i < 10; i++) await seedCycle(t.db, { scheduledAt: CUTOFF - DAY + i * 60_000 });
    assert.deepEqual(await pruneHistory(t.db, CUTOFF, { batchSize: 4, between: async () => false }), { cycles: 4, attempts: 4 });
    assert.equal((await cycleRows(t.db))[0]!.scheduled_at, CUTOFF - DAY + 4 * 60_000, 'the oldest go first');
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('prune command: --older-than, --dry-run, the HISTORY_RETENTION_DAYS default, and 0 keeping everything', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const now = Date.now();
    for (const daysAgo of [40, 31, 20, 5, 0.01]) await seedCycle(t.db, { scheduledAt: now - daysAgo * DAY });
    const count = async () => (await cycleRows(t.db)).length;

    const dry = await runMain(['prune', '--older-than', '30d', '--dry-run', '--db', t.path]);
    assert.equal(dry.code, 0, dry.err.join('\n'));
    assert.match(dry.text, /^Dry run: would delete 2 cycle\(s\) and 2 attempt\(s\) scheduled before \S+Z \(older than 30d\)$/);
    assert.equal(await count(), 5, 'a dry run deletes nothing');

    const real = await runMain(['prune', '--older-than', '30d', '--db', t.path]);
    assert.equal(real.code, 0, real.err.join('\n'));
    assert.match(real.text, /^Deleted 2 cycle\(s\) and 2 attempt\(s\) scheduled before \S+Z \(older than 30d\)/);
    assert.equal(await count(), 3);

    const byDefault = await runMain(['prune', '--db', t.path], { HISTORY_RETENTION_DAYS: '10' });
    assert.equal(byDefault.code, 0);
    assert.match(byDefault.text, /^Deleted 1 cycle\(s\)/);
    assert.equal(await count(), 2);

    const keepAll = await runMain(['prune', '--db', t.path], { HISTORY_RETENTION_DAYS: '0' });
    assert.deepEqual([keepAll.code, keepAll.text], [0, 'HISTORY_RETENTION_DAYS=0 keeps everything: nothing pruned (give --older-than, such as 30d, to prune anyway)']);
    assert.equal(await count(), 2);
    const anyway = await runMain(['prune', '--older-than', '1d', '--db', t.path], { HISTORY_RETENTION_DAYS: '0' });
    assert.match(anyway.text, /^Deleted 1 cycle\(s\)/);
    assert.equal(await count(), 1);
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('prune: a missing database is exit 2 and is not created; bad --older-than and HISTORY_RETENTION_DAYS exit 2', async (backend) => {
  const t = await tempDatabaseOn(backend);
  const dir = tempDir();
  try {
    const path = backend === 'sqlite' ? join(dir.dir, 'missing.db') : PG_URL.replace(/\/test$/, '/missing_db');
    for (const args of [['prune'], ['prune', '--dry-run'], ['prune', '--older-than', '1d']]) {
      const r = await runMain([...args, '--db', path]);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.err.length, 1);
      assert.match(r.err[0]!, /does not exist/);
      assert.equal(existsSync(path), false);
    }
    for (const [args, env, says] of [
      [['--older-than', 'old'], {}, /^pmf-scheduler: Invalid --older-than "old": expected a duration such as 30m, 2h, 7d or 1h30m$/],
      [['--older-than', '0d'], {}, /Invalid --older-than "0d"/],
      [[], { HISTORY_RETENTION_DAYS: '-1' }, /^pmf-scheduler: Invalid HISTORY_RETENTION_DAYS="-1": expected an integer from 0 to 36500$/],
      [[], { HISTORY_RETENTION_DAYS: 'forever' }, /Invalid HISTORY_RETENTION_DAYS="forever"/],
    ] as [string[], Record<string, string>, RegExp][]) {
      const r = await runMain(['prune', '--db', t.path, ...args], env);
      assert.equal(r.code, 2, args.join(' '));
      assert.equal(r.err.length, 1);
      assert.match(r.err[0]!, says);
    }
    const parsed = parseConfig({});
    assert.ok('config' in parsed && parsed.config.historyRetentionDays === 90, 'default 90 days');
    const bad = parseConfig({ HISTORY_RETENTION_DAYS: '36501' });
    assert.ok('problems' in bad && formatProblem(bad.problems[0]!).startsWith('Invalid HISTORY_RETENTION_DAYS="36501"'));
  } finally {
    await t.cleanup();
    dir.cleanup();
  }
});

testOnEveryBackend('the agent prunes history older than HISTORY_RETENTION_DAYS shortly after start, and logs what it deleted', async (backend) => {
  // Each resource is taken only once the one before it is held, and released in `finally` whatever throws.
  const seeded = await tempDatabaseOn(backend);
  let stub: DiegoStub | undefined;
  let group: Awaited<ReturnType<typeof startAgents>> | undefined;
  try {
    stub = await startDiegoStub([{ status: 200 }]);
    const start = Date.UTC(2024, 0, 22, 10, 0, 0);
    for (let i = 0; i < 7; i++) await seedCycle(seeded.db, { scheduledAt: start - 3 * DAY + i * 60_000 });
    const recent = await seedCycle(seeded.db, { scheduledAt: start - DAY / 2 });
    const slots = RETENTION_FIRST_DELAY_MS / 1000 + 3;
    group = await startAgents({ target: seeded.target, env: { DIEGO_URL: stub.url, HISTORY_RETENTION_DAYS: '1' }, start, slots });
    assert.deepEqual(await within(group.exits, 20_000, 'the agent to stop'), [0]);
    const rows = await cycleRows(group.agents[0]!.database.db);
    assert.equal(rows.filter((r) => r.scheduled_at < start - DAY).length, 0, 'the 3-day-old cycles are gone');
    assert.ok(rows.some((r) => r.id === recent), 'the half-day-old cycle stays');
    assert.equal(rows.filter((r) => r.scheduled_at > start).length, slots, "the agent's own cycles stay");
    assert.ok(
      group.agents[0]!.log.out.some((l) => /\[UPKEEP\] Retention: deleted 7 cycle\(s\) and 7 attempt\(s\) scheduled before 2024-01-2\dT\S+Z \(HISTORY_RETENTION_DAYS=1\)/.test(l)),
      group.agents[0]!.log.all().join('\n'),
    );
  } finally {
    await group?.close();
    await stub?.close();
    await seeded.cleanup();
  }
});
