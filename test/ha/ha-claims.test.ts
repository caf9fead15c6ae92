import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T0, startAgents } from '../helpers/agent-harness.ts';
import { pgTest, tempDatabaseOn } from '../helpers/backends.ts';
import { analysisOk, startDiegoStub } from '../helpers/diego-stub.ts';
import { attemptRows, cycleRows } from '../helpers/history-rows.ts';
import { withHooks } from '../helpers/slot-hooks.ts';
import { faultInjector } from '../helpers/fault-injector.ts';

// PostgreSQL's side of the database-fault trade-off, in-process on a real PostgreSQL schema with the agent's own
// write queue: the database "goes away" through an injected connection error (the real outage, a stopped server, is
// in ha-outage.test.ts). No claim, no fire; the records of a cycle already fired wait and are written later.


const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

test('[postgres] database unreachable mid-run: the cycle in flight keeps its records (queued), the slots without a claim do not fire, firing resumes after', pgTest(), async () => {
  const t = await tempDatabaseOn('postgres');
  const control: { failing: Error | undefined } = { failing: undefined };
  // Slot 3's request arrives, then the database goes away while its answer is on the way: its attempt and cycle
  // records cannot be written. The connection comes back after slot 5's claim has failed too.
  const stub = await startDiegoStub([
    { status: 200, body: analysisOk() },
    { status: 200, body: analysisOk() },
    (_req, res) => {
      control.failing = refused();
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(analysisOk()));
    },
    { status: 200, body: analysisOk() },
  ]);
  const group = await startAgents({
    target: t.target,
    env: { DIEGO_URL: stub.url, RETRY_ATTEMPTS: '1' },
    wrapBackend: (real) => faultInjector(real, control),
    queue: { retry: { firstMs: 5, maxMs: 20 } },
    gate: withHooks(7, { 5: () => (control.failing = undefined) }),
  });
  try {
    assert.deepEqual(await group.exits, [0]);
    assert.equal(t.traits.claimMustSucceed, true, 'PostgreSQL: no claim, no fire');
    const log = group.agents[0]!.log.all();
    const slot = (k: number) => new Date(T0 + 1000 * k).toISOString();
    for (const k of [4, 5]) assert.ok(log.some((l) => l.includes(`Could not claim slot ${slot(k)} (connect ECONNREFUSED 127.0.0.1:5432): not firing it`)), `slot ${k}\n${log.join('\n')}`);
    assert.equal(stub.received.length, 5, 'slots 1, 2, 3, 6 and 7 fired; 4 and 5 had no claim');

    const rows = await cycleRows(t.db);
    assert.deepEqual(rows.map((r) => r.scheduled_at), [1, 2, 3, 6, 7].map((k) => T0 + 1000 * k), 'the gap is slots 4 and 5');
    assert.deepEqual(rows.map((r) => r.status), Array(5).fill('succeeded'), "slot 3's records, queued through the outage, were written once it ended");
    assert.deepEqual(new Set(stub.received.map((r) => r.headers['idempotency-key'])), new Set(rows.map((r) => r.idempotency_key)));
    assert.ok(log.some((l) => /Database unavailable \(connect ECONNREFUSED/.test(l)), log.join('\n'));
    assert.deepEqual(group.agents[0]!.dumped, [], 'nothing lost');
  } finally {
    await group.close();
    await stub.close();
    await t.cleanup();
  }
});

// A claim whose answer is lost: the server committed it, then the session was cut before it answered (a fast
// shutdown: 57P01, or "Connection terminated unexpectedly"), which is how ha-outage.test.ts once found a `running`
// row that no POST matched. The slot is not fired, and its row must not stay `running`.
const terminated = () => new Error('Connection terminated unexpectedly');

test('[postgres] a claim written just before the connection died: the slot is not fired, its row ends skipped (unclaimed) once the database is back', pgTest(), async () => {
  const t = await tempDatabaseOn('postgres');
  const control: { failing: Error | undefined } = { failing: undefined };
  const stub = await startDiegoStub([{ status: 200, body: analysisOk() }]);
  const group = await startAgents({
    target: t.target,
    env: { DIEGO_URL: stub.url, RETRY_ATTEMPTS: '1' },
    wrapBackend: (real) => {
      const faulty = faultInjector(real, control);
      return {
        ...faulty,
        async claimCycle(c) {
          if (c.scheduledAt !== T0 + 3000) return faulty.claimCycle(c);
          await real.claimCycle(c); // committed...
          control.failing = refused(); // ...then the server is gone before it answers: slot 4 cannot even connect
          throw terminated();
        },
      };
    },
    queue: { retry: { firstMs: 5, maxMs: 20 } },
    gate: withHooks(6, { 4: () => (control.failing = undefined) }),
  });
  try {
    assert.deepEqual(await group.exits, [0]);
    const log = group.agents[0]!.log.all();
    const slot = (k: number) => new Date(T0 + 1000 * k).toISOString();
    assert.ok(log.some((l) => l.includes(`Could not claim slot ${slot(3)} (Connection terminated unexpectedly): not firing it`)), log.join('\n'));
    assert.ok(log.some((l) => l.includes(`The claim of slot ${slot(3)} of BTC/USDT may have been written before its connection failed`)), log.join('\n'));
    assert.ok(log.some((l) => l.includes(`The claim of slot ${slot(3)} of BTC/USDT had been written: its row is now skipped (unclaimed)`)), log.join('\n'));
    assert.ok(!log.some((l) => l.includes(`The claim of slot ${slot(4)}`)), 'a refused connection sent nothing: nothing to void');

    const rows = await cycleRows(t.db);
    assert.deepEqual(
      rows.map((r) => [r.scheduled_at, r.status, r.reason]),
      [[1, 'succeeded', null], [2, 'succeeded', null], [3, 'skipped', 'unclaimed'], [5, 'succeeded', null], [6, 'succeeded', null]].map(([k, s, r]) => [T0 + 1000 * (k as number), s, r]),
      'slot 3 is explained, slot 4 (never written) is a gap',
    );
    const voided = rows.find((r) => r.status === 'skipped')!;
    assert.equal(voided.error, "not fired: the claim's answer was lost (Connection terminated unexpectedly)");
    assert.deepEqual([voided.attempts, voided.lease_until], [0, null]);
    assert.deepEqual(await attemptRows(t.db, voided.id), [], 'no request left for it');
    assert.deepEqual(new Set(stub.received.map((r) => r.headers['idempotency-key'])), new Set(rows.filter((r) => r !== voided).map((r) => r.idempotency_key)), 'one POST per fired slot, none for slot 3');
    assert.deepEqual(group.agents[0]!.dumped, [], 'nothing lost');
  } finally {
    await group.close();
    await stub.close();
    await t.cleanup();
  }
});

test('[postgres] a claim whose statement is still on its way when its connection fails: the void takes the slot first, the late insert finds it taken', pgTest(), async () => {
  const t = await tempDatabaseOn('postgres');
  const stub = await startDiegoStub([{ status: 200, body: analysisOk() }]);
  let late: Promise<number | undefined> | undefined;
  const group = await startAgents({
    target: t.target,
    env: { DIEGO_URL: stub.url, RETRY_ATTEMPTS: '1' },
    wrapBackend: (real) => {
      let held: (() => void) | undefined;
      return {
        ...real,
        async claimCycle(c) {
          if (c.scheduledAt !== T0 + 2000) return real.claimCycle(c);
          // Our side gave up (a query timeout); the server runs the insert only after the void was written.
          late = new Promise<void>((resolve) => (held = resolve)).then(() => real.claimCycle(c));
          throw new Error('Query read timeout');
        },
        async voidClaim(c, error) {
          const done = await real.voidClaim(c, error);
          held?.();
          return done;
        },
      };
    },
    gate: withHooks(3, {}),
  });
  try {
    assert.deepEqual(await group.exits, [0]);
    assert.equal(await late, undefined, 'the late claim inserted nothing');
    const rows = await cycleRows(t.db);
    assert.deepEqual(rows.map((r) => [r.scheduled_at, r.status, r.reason]), [[T0 + 1000, 'succeeded', null], [T0 + 2000, 'skipped', 'unclaimed'], [T0 + 3000, 'succeeded', null]]);
    assert.equal(rows[1]!.error, "not fired: the claim's answer was lost (Query read timeout)");
    assert.equal(stub.received.length, 2, 'slot 2 was not fired');
  } finally {
    await group.close();
    await stub.close();
    await t.cleanup();
  }
});
