import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { openDatabase } from '../../src/store/open.ts';
import type { Database } from '../../src/store/port.ts';
import { PG_URL, pgAdmin, pgTest, tempSchema } from '../helpers/backends.ts';
import { analysisOk, startDiegoStub, type DiegoStub } from '../helpers/diego-stub.ts';
import { killReplicas, outputOf, secondsBetween, slotRows, spawnReplica, stopReplicas, type Replica } from '../helpers/replicas.ts';
import { runMain } from '../helpers/run-main.ts';
import { until } from '../helpers/wait.ts';

// Replicas of the built CLI sharing the machine's PostgreSQL (each scenario in a schema of its own), on
// `* * * * * *`. The two scenarios run side by side: they share nothing but the server.

const RUN_MS = 30_000;

/** Resources of one scenario, released even when it fails: processes by PID, the stub, the schema. */
async function scenario(run: (s: { url: string; stub: DiegoStub; replicas: Replica[]; reader: () => Promise<Database> }) => Promise<void>, reply = { status: 200, body: analysisOk() as unknown, delayMs: 0 }) {
  const schema = await tempSchema();
  const stub = await startDiegoStub([reply]);
  const replicas: Replica[] = [];
  let reader: Database | undefined;
  try {
    await run({ url: schema.url, stub, replicas, reader: async () => (reader ??= await openDatabase({ kind: 'postgres', url: schema.url }, { readonly: true })) });
  } finally {
    killReplicas(replicas);
    await Promise.all(replicas.map((r) => r.exited));
    await reader?.close();
    await stub.close();
    await schema.drop();
  }
}

/** POSTs by Idempotency-Key: each key must have come once, and every cycle that ran must have its POST. */
function postsByKey(stub: DiegoStub): Map<string, number> {
  const keys = new Map<string, number>();
  for (const r of stub.received) {
    const key = String(r.headers['idempotency-key']);
    keys.set(key, (keys.get(key) ?? 0) + 1);
  }
  return keys;
}

describe('high availability: replicas sharing PostgreSQL', { concurrency: true, ...pgTest() }, () => {
  before(async () => {
    // Skipped when the server is not reachable (pgTest), unless PMF_TEST_PG=required: then this fails and says why.
    await pgAdmin(PG_URL, (c) => c.query('select 1'));
  });

  test('3 replicas on * * * * * * for 30 s: every slot exactly once, no gaps; RUN_ON_START fired once among them', async () => {
    await scenario(async ({ url, stub, replicas, reader }) => {
      for (const id of ['replica-1', 'replica-2', 'replica-3']) replicas.push(spawnReplica(id, { DATABASE_URL: url, DIEGO_URL: stub.url, RUN_ON_START: 'true' }));
      // Each replica's first slot names the interval it started in (the one before it, every second).
      const firstSlots = await Promise.all(replicas.map((r) => r.line(/Next fire time/, 20_000)));
      await sleep(RUN_MS);
      assert.deepEqual(await stopReplicas(replicas), [0, 0, 0], replicas.map(outputOf).join('\n'));

      const db = (await reader()).db;
      const rows = await slotRows(db);
      const slots = rows.map((r) => r.scheduled_at);
      assert.ok(slots.length >= RUN_MS / 1000, `${slots.length} slots in ${RUN_MS} ms`);
      // One row per interval, whatever its trigger (the startup cycle holds its interval's slot), and no gap.
      assert.deepEqual(slots, secondsBetween(slots[0]!, slots.at(-1)!), 'every second from the first to the last, once');
      // Every cycle ran to its end (on a loaded machine one may rightly fail at its deadline, the next slot).
      assert.deepEqual(
        rows.filter((r) => r.status !== 'succeeded' && !(r.status === 'failed' && r.reason === 'deadline')).map((r) => [r.scheduled_at, r.status, r.reason]),
        [],
        'no cycle skipped, interrupted or left running',
      );
      // RUN_ON_START fires once per interval among replicas: once when all three started in one second, and never
      // more than the seconds they started in (a start straddling a second boundary may rightly fire in each).
      const startIntervals = new Set(firstSlots.map((l) => /Next fire time: (\S+)/.exec(l)![1])).size;
      const startups = rows.filter((r) => r.trigger === 'startup').length;
      assert.ok(startups >= 1 && startups <= startIntervals, `${startups} startup cycles for replicas started in ${startIntervals} interval(s)`);

      const posts = postsByKey(stub);
      const sent = rows.filter((r) => r.attempts > 0);
      assert.ok(sent.length >= rows.length - 1, `${rows.length - sent.length} slots sent nothing`);
      assert.deepEqual([...posts.values()].filter((n) => n > 1), [], 'no Idempotency-Key sent twice');
      // Every POST is a claimed cycle; every succeeded cycle reached Diego. A cycle cut at its deadline under load
      // may have started an attempt whose request never arrived, so only those may be missing from the stub.
      const keys = new Set(sent.map((r) => r.idempotency_key));
      assert.deepEqual([...posts.keys()].filter((k) => !keys.has(k)), [], 'every POST is a claimed cycle');
      const unseen = sent.filter((r) => !posts.has(r.idempotency_key));
      assert.deepEqual(unseen.filter((r) => r.status !== 'failed' || r.reason !== 'deadline').map((r) => [r.scheduled_at, r.status]), [], 'one POST per slot that had time to send one');
      const owners = new Set(rows.map((r) => r.owner));
      assert.ok([...owners].every((o) => /^replica-[123]$/.test(o)), [...owners].join(', '));

      // The same seconds through `stats`, from the first scheduled slot (the startup cycle's slot came before any
      // replica was up, so it is rightly a missed slot): none missed; grouped by replica, every replica that fired.
      const firstScheduled = rows.find((r) => r.trigger === 'schedule')!.scheduled_at;
      const window = ['--since', new Date(firstScheduled).toISOString(), '--until', new Date(slots.at(-1)! + 1).toISOString(), '--cron', '* * * * * *'];
      const stats = JSON.parse((await runMain(['stats', '--json', ...window, '--db', url])).text);
      assert.deepEqual([stats.total.missedSlots, stats.total.cycles], [0, rows.filter((r) => r.scheduled_at >= firstScheduled).length]);
      const byReplica = JSON.parse((await runMain(['stats', '--json', '--by', 'replica', ...window, '--db', url])).text);
      assert.deepEqual(Object.keys(byReplica.replicas), [...owners].sort());
      // `history` names the replica of each cycle.
      const history = await runMain(['history', '--limit', '5', '--db', url]);
      assert.match(history.text.split('\n')[0]!, /\breplica\b/);
      assert.ok(history.text.split('\n').slice(1, 6).every((l) => /replica-[123]/.test(l)), history.text);
    });
  });

  test('kill -9 of one replica mid-cycle: no duplicate, its cycle alone interrupted once its lease expired, the others miss no slot', async () => {
    // Diego answers in 500 ms: a cycle is in flight for half of each second, so the kill lands inside one.
    await scenario(
      async ({ url, stub, replicas, reader }) => {
        for (const id of ['replica-a', 'replica-b', 'replica-c']) replicas.push(spawnReplica(id, { DATABASE_URL: url, DIEGO_URL: stub.url }));
        await Promise.all(replicas.map((r) => r.line(/Next fire time/, 20_000)));
        await sleep(3000);
        const db = (await reader()).db;

        // Kill the owner of the slot now in flight, 150–450 ms into it: its next claim (100 ms before the next
        // slot) is not made yet, so it dies holding exactly one cycle.
        let killed: { slot: number; replica: Replica } | undefined;
        await until(async () => {
          const into = Date.now() % 1000;
          if (into < 150 || into > 450) return false;
          const slot = Date.now() - into;
          const row = await db.selectFrom('cycles').select(['owner', 'status']).where('scheduled_at', '=', slot).executeTakeFirst();
          const victim = replicas.find((r) => r.id === row?.owner);
          if (row?.status !== 'running' || victim === undefined || Date.now() - slot > 450) return false;
          victim.kill('SIGKILL');
          killed = { slot, replica: victim };
          return true;
        }, 'a cycle in flight to kill its replica in', 10_000);
        const { slot: killedSlot, replica: victim } = killed!;
        assert.equal((await victim.exited).signal, 'SIGKILL');
        const survivors = replicas.filter((r) => r !== victim);

        // A survivor marks the dead cycle once its lease (15 s from its last renewal) has expired.
        await until(
          async () => (await db.selectFrom('cycles').select('status').where('scheduled_at', '=', killedSlot).executeTakeFirstOrThrow()).status === 'interrupted',
          'a survivor to mark the dead cycle interrupted',
          25_000,
        );
        await sleep(1500);
        assert.deepEqual(await stopReplicas(survivors), [0, 0], survivors.map(outputOf).join('\n'));

        const rows = await slotRows(db);
        const slots = rows.map((r) => r.scheduled_at);
        assert.deepEqual(slots, secondsBetween(slots[0]!, slots.at(-1)!), 'no slot missed or doubled, before or after the kill');
        const interrupted = rows.filter((r) => r.status !== 'succeeded' && !(r.status === 'failed' && r.reason === 'deadline'));
        assert.deepEqual(
          interrupted.map((r) => [r.scheduled_at, r.status, r.reason, r.owner]),
          [[killedSlot, 'interrupted', 'lease_expired', victim.id]],
          'the one cycle in flight in the dead replica, and nothing else',
        );
        const after = rows.filter((r) => r.scheduled_at > killedSlot);
        assert.ok(after.length >= 15, `${after.length} slots after the kill`);
        assert.ok(after.every((r) => r.owner !== victim.id), 'the dead replica claimed nothing after its death');

        const posts = postsByKey(stub);
        assert.deepEqual([...posts.values()].filter((n) => n > 1), [], 'no Idempotency-Key sent twice');
        assert.equal(stub.received.length, rows.filter((r) => r.attempts > 0).length, 'one POST per slot, the interrupted one included');
        assert.equal(rows.find((r) => r.scheduled_at === killedSlot)!.attempts, 1, 'the dead cycle had sent its POST');
        assert.ok(
          survivors.some((r) => r.stderr.some((l) => l.includes(`Marked 1 cycle(s) of ${victim.id} interrupted: its lease expired`))),
          survivors.map(outputOf).join('\n'),
        );
      },
      { status: 200, body: analysisOk(), delayMs: 500 },
    );
  });
});
