import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCycle } from '../../src/agent/cycle.ts';
import { T0, startAgents } from '../helpers/agent-harness.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { analysisOk, startDiegoStub } from '../helpers/diego-stub.ts';
import { fastClock } from '../helpers/fast-clock.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { runMain } from '../helpers/run-main.ts';
import { tempDatabase, tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';
import { testCycleDeps } from '../helpers/cycle-deps.ts';

// What each request tells Diego (issue 23 §4), checked where Diego reads it: the stub's recorded headers.

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-01$/;

test('every attempt carries X-Scheduled-At (the slot) and a traceparent: one trace per cycle, a span per attempt; the trace id is stored, shown by history --cycle and in the JSON log lines', async () => {
  const stub = await startDiegoStub([{ status: 503 }, { status: 200, body: analysisOk() }, { status: 200, body: analysisOk() }]);
  const db = await tempDatabase();
  try {
    const clock = fastClock(T0);
    const log = captureLog({ format: 'json', now: clock.now });
    const deps = testCycleDeps({ clock, db: db.db, log, diegoUrl: stub.url }, { retry: { attempts: 3, delayMs: 10 }, diegoTimeoutMs: 5000 });
    const slot = T0 + 60_000;
    const first = await runCycle({ symbol: 'BTC/USDT', trigger: 'schedule', slot, deadline: slot + 60_000 }, deps, new AbortController().signal);
    const second = await runCycle({ symbol: 'BTC/USDT', trigger: 'manual', slot: slot + 1234, deadline: slot + 60_000 }, deps, new AbortController().signal);
    assert.equal(first.status, 'succeeded');
    assert.equal(second.status, 'succeeded');
    assert.equal(stub.received.length, 3);
    const [a1, a2, b1] = stub.received.map((r) => r.headers);
    assert.equal(a1!['x-scheduled-at'], '2024-01-22T10:01:00.000Z', 'the slot, ISO 8601 UTC with milliseconds');
    assert.equal(a2!['x-scheduled-at'], '2024-01-22T10:01:00.000Z', 'a retry says the same slot');
    assert.equal(b1!['x-scheduled-at'], '2024-01-22T10:01:01.234Z', 'a run-now cycle: the moment it was taken, its recorded slot');
    const parts = [a1, a2, b1].map((h) => TRACEPARENT.exec(String(h!.traceparent)));
    assert.ok(parts.every((p) => p !== null), `W3C traceparent, version 00, flags 01: ${[a1, a2, b1].map((h) => h!.traceparent).join(', ')}`);
    const [[, traceA, spanA1], [, traceA2, spanA2], [, traceB]] = parts as [RegExpExecArray, RegExpExecArray, RegExpExecArray];
    assert.equal(traceA2, traceA, 'one trace per cycle');
    assert.notEqual(spanA2, spanA1, 'a new span per attempt');
    assert.notEqual(traceB, traceA, 'each cycle its own trace');
    assert.notEqual(traceA, '0'.repeat(32));

    const rows = await cycleRows(db.db);
    // The trace id is the cycle's Idempotency-Key as 32 hex digits: one identifier, stored once.
    assert.deepEqual(rows.map((r) => r.idempotency_key.replace(/-/g, '')), [traceA, traceB]);
    const shown = await runMain(['history', '--cycle', String(first.id), '--db', db.path]);
    assert.equal(shown.code, 0, shown.err.join('\n'));
    assert.match(shown.text, new RegExp(`trace\\s+${traceA}`));
    const json = await runMain(['history', '--cycle', String(first.id), '--json', '--db', db.path]);
    assert.equal((JSON.parse(json.text) as { cycle: { traceId: string } }).cycle.traceId, traceA);
    const cycleLines = log.all().map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.cycle === first.id);
    assert.ok(cycleLines.length >= 3, `the cycle's log lines: ${cycleLines.length}`);
    for (const line of cycleLines) assert.equal(line.traceId, traceA, `${String(line.msg ?? line.message)}: the trace id`);
  } finally {
    await stub.close();
    await db.cleanup();
  }
});

test('listeners do not pile up on a signal that outlives its cycles: twelve symbols over five slots, no MaxListenersExceededWarning', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const stub = await startDiegoStub([{ status: 200, body: analysisOk() }]);
  const dir = tempDir();
  const symbols = Array.from({ length: 12 }, (_, i) => `S${i}/USDT`).join(',');
  const group = await startAgents({ path: join(dir.dir, 'history.db'), slots: 5, env: { DIEGO_URL: stub.url, SYMBOLS: symbols } });
  try {
    assert.deepEqual(await within(group.exits, 20_000, 'the agent to stop'), [0]);
    assert.equal(stub.received.length, 60, 'every symbol at every slot');
    await new Promise((r) => setImmediate(r)); // a warning is emitted on the next tick
    assert.deepEqual(warnings.filter((w) => w.name === 'MaxListenersExceededWarning').map((w) => w.message), []);
  } finally {
    process.off('warning', onWarning);
    await group.close();
    await stub.close();
    dir.cleanup();
  }
});
