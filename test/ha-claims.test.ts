import { test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock } from '../src/clock.ts';
import { createWriteQueue } from '../src/store/write-queue.ts';
import { T0, startAgents } from './helpers/agent-harness.ts';
import { tempDatabaseOn } from './helpers/backends.ts';
import { captureLog } from './helpers/capture-log.ts';
import { analysisOk, startDiegoStub } from './helpers/diego-stub.ts';
import { cycleRows } from './helpers/history-rows.ts';
import { withHooks } from './helpers/slot-hooks.ts';
import { faultInjector } from './helpers/fault-injector.ts';

// PostgreSQL's side of the database-fault trade-off, in-process on a real PostgreSQL schema with the agent's own
// write queue: the database "goes away" through an injected connection error (the real outage, a stopped server, is
// in ha-outage.test.ts). No claim, no fire; the records of a cycle already fired wait and are written later.


const refused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

test('[postgres] database unreachable mid-run: the cycle in flight keeps its records (queued), the slots without a claim do not fire, firing resumes after', async () => {
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
  const qlog = captureLog();
  const dumped: string[] = [];
  const group = await startAgents({
    target: t.target,
    env: { DIEGO_URL: stub.url, RETRY_ATTEMPTS: '1' },
    wrapStore: (real, _i, database) =>
      createWriteQueue(faultInjector(real, control), {
        log: qlog,
        clock: systemClock,
        dump: (l) => dumped.push(l),
        redact: (s) => s,
        claimMustSucceed: database.traits.claimMustSucceed,
        isStorageFault: database.traits.isUnavailable,
        retry: { firstMs: 5, maxMs: 20 },
      }),
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
    assert.ok(qlog.all().some((l) => /Database unavailable \(connect ECONNREFUSED/.test(l)), qlog.all().join('\n'));
    assert.deepEqual(dumped, [], 'nothing lost');
  } finally {
    await group.close();
    await stub.close();
    await t.cleanup();
  }
});
