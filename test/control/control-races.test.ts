import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sql } from 'kysely';
import { queryAudit, readControlState } from '../../src/control/control-store.ts';
import { pgTest, tempDatabaseOn, testOnEveryBackend } from '../helpers/backends.ts';
import { runCli } from '../helpers/cli-process.ts';

// Control under concurrency (issue 24 items 19, 20): every control change locks `control_version` first, so pause and
// resume racing on PostgreSQL cannot deadlock (and a deadlock or serialization failure from elsewhere is retried,
// never a stack trace); the audit's time is taken once the lock is held, not when the command started.

const noStack = (text: string) => !/\n\s+at |Unhandled rejection|deadlock detected/.test(text);

test('[postgres] pause racing resume: 6 pairs at once, then two shells alternating 15 commands each; every command exits 0, no stack trace, every change audited in version order', pgTest(), async () => {
  const t = await tempDatabaseOn('postgres');
  try {
    const run = (verb: 'pause' | 'resume', i: number) => runCli([verb, '--reason', `${verb} ${i}`, '--db', t.path], {}, 60_000);
    const pairs = await Promise.all(Array.from({ length: 6 }, (_, i) => [run('pause', i), run('resume', i)]).flat());
    const shell = async (first: 'pause' | 'resume') => {
      const results = [];
      for (let i = 0; i < 15; i++) results.push(await run((i % 2 === 0) === (first === 'pause') ? 'pause' : 'resume', i));
      return results;
    };
    const shells = (await Promise.all([shell('pause'), shell('resume')])).flat();
    const all = [...pairs, ...shells];
    const failed = all.filter((r) => r.code !== 0 || !noStack(r.err));
    assert.deepEqual(failed.map((r) => `${r.code}: ${r.err}`), [], `${failed.length} of ${all.length} commands failed`);
    // Every pause is audited, and each resume that found a pause; versions are the audit's order, with no gap.
    const audit = await queryAudit(t.db, undefined, 1000);
    const pauses = all.filter((r) => r.out.startsWith('Paused')).length;
    assert.equal(audit.filter((e) => e.action === 'pause').length, pauses);
    const versions = await t.db.selectFrom('control_audit').select(['version', 'at']).orderBy('id').execute();
    assert.deepEqual(versions.map((v) => Number(v.version)), versions.map((_, i) => i + 1), 'one version per change, in the order they committed');
    assert.equal((await readControlState(t.db)).version, versions.length);
    // The time of each change is taken under the lock: in commit order, times never go back.
    const ats = versions.map((v) => Number(v.at));
    assert.deepEqual(ats, [...ats].sort((a, b) => a - b), 'audit times follow the commit order');
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend("the audit's time is when the change took hold: a pause that waited 1.5 s for another transaction's lock is audited after that lock was released, not when the command started", async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    let released = 0;
    let started = 0;
    let pause: ReturnType<typeof runCli> | undefined;
    // Another writer holds the version row (PostgreSQL: its row lock; SQLite: the write lock) while `pause` starts.
    await t.db.transaction().execute(async (tx) => {
      await sql`update control_version set version = version where id = 1`.execute(tx);
      started = Date.now();
      pause = runCli(['pause', '--reason', 'waited for the lock', '--db', t.path], {}, 60_000);
      await new Promise((resolve) => setTimeout(resolve, 1500));
      released = Date.now();
    });
    const r = await pause!;
    assert.equal(r.code, 0, r.err);
    const [entry] = await queryAudit(t.db, undefined, 10);
    assert.ok(entry!.at >= released, `audited at ${new Date(entry!.at).toISOString()}, ${released - entry!.at} ms before the lock it waited for was released (command started ${entry!.at - started} ms after the lock was taken)`);
    const [p] = (await readControlState(t.db)).pauses;
    assert.equal(p!.since, entry!.at, 'the pause is in force from the same moment');
  } finally {
    await t.cleanup();
  }
});
