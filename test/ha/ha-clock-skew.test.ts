import assert from 'node:assert/strict';
import { T0, startAgents } from '../helpers/agent-harness.ts';
import { tempDatabaseOn, testOnEveryBackend } from '../helpers/backends.ts';
import { startDiegoStub } from '../helpers/diego-stub.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { within } from '../helpers/wait.ts';

// Replicas whose clocks disagree by a few seconds fire each slot once: the claim's key is the slot's scheduled time,
// which every replica computes alike from the pattern, not its own "now". Injected clocks, both backends.

const SKEWS_MS = [0, 2_500, -3_200];
const SLOTS = 12;

testOnEveryBackend('clock skew of a few seconds between three replicas: every slot claimed once, one POST per slot', async (backend) => {
  const t = await tempDatabaseOn(backend);
  const stub = await startDiegoStub([{ status: 200 }]);
  const group = await startAgents({
    target: t.target,
    env: { DIEGO_URL: stub.url, CRON_PATTERN: '* * * * * *' },
    count: SKEWS_MS.length,
    clockSkewMs: (i) => SKEWS_MS[i]!,
    slots: SLOTS,
  });
  try {
    assert.deepEqual(await within(group.exits, 30_000, 'the replicas to stop'), [0, 0, 0]);
    const rows = await cycleRows(t.db);
    // Each replica fired SLOTS slots from the first one after its own start, so together they cover the slots from
    // the one furthest behind to the one furthest ahead, most of them seen by two or three replicas. The first slot
    // is the whole second after the replica's own clock at its start (its clock runs with real time from its skewed
    // T0, so a slow start under load moves it later): the log line that names it is stamped by that same clock.
    const firstSlots = group.agents.map((a, i) => {
      const line = a.log.out.find((l) => /Next fire time: /.test(l)) ?? assert.fail(`replica ${i}: no "Next fire time" line`);
      const [, stamp, first] = /^\[(\S+)\] .*Next fire time: (\S+)/.exec(line) ?? assert.fail(line);
      const [at, slot] = [Date.parse(stamp!), Date.parse(first!)];
      const skew = SKEWS_MS[i]!;
      assert.ok(slot % 1000 === 0 && slot > at - 1000 && slot <= at + 1000, `replica ${i} (skew ${skew} ms): first slot ${first} is not the second after its own clock's ${stamp}`);
      assert.ok(at >= T0 + skew, `replica ${i}: its clock ${stamp} is behind its skewed start`);
      return slot;
    });
    const expected = [...new Set(firstSlots.flatMap((first) => Array.from({ length: SLOTS }, (_, n) => first + n * 1000)))].sort((a, b) => a - b);
    assert.deepEqual(rows.map((r) => r.scheduled_at), expected, 'every slot once, none missing');
    assert.ok(rows.every((r) => r.status === 'succeeded' && r.trigger === 'schedule'), JSON.stringify(rows.map((r) => r.status)));

    // One POST per slot: each request's Idempotency-Key is one cycle's, and no cycle was sent twice.
    const keys = stub.received.map((r) => String(r.headers['idempotency-key']));
    assert.equal(keys.length, rows.length, `${keys.length} POSTs for ${rows.length} slots`);
    assert.deepEqual(new Set(keys), new Set(rows.map((r) => r.idempotency_key)));

    // The overlap was real: the replicas tried the same slots, and the later ones lost the claim.
    const lost = group.agents.flatMap((a) => a.log.out.filter((l) => /already claimed by another agent; not firing/.test(l)));
    const tried = group.agents.reduce((n, a) => n + a.fired, 0);
    assert.equal(tried - rows.length, lost.length, 'every claim that lost was logged and not fired');
    // Contested: every try beyond the slots covered. The skews alone make the replicas' runs overlap by most of SLOTS.
    const contested = SLOTS * SKEWS_MS.length - expected.length;
    assert.equal(lost.length, contested, 'every contested slot lost by all but one replica');
    assert.ok(contested >= SLOTS / 2, `only ${contested} contested slots: the replicas' runs barely overlapped`);
    assert.equal(new Set(rows.map((r) => r.owner)).size > 1, true, 'more than one replica fired');
  } finally {
    await group.close();
    await stub.close();
    await t.cleanup();
  }
});
