import { test } from 'node:test';
import assert from 'node:assert/strict';
import { systemClock, WAKE_EARLY_MS } from '../../src/time/clock.ts';
import { pattern } from '../helpers/cron.ts';
import { runCycle, type CycleResult, type Release } from '../../src/agent/cycle.ts';
import { PREPARE_LEAD_MS, runSchedule } from '../../src/agent/scheduler.ts';
import { T0 } from '../helpers/agent-harness.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { startDiegoStub } from '../helpers/diego-stub.ts';
import { fastClock } from '../helpers/fast-clock.ts';
import { attemptRows, cycleRows } from '../helpers/history-rows.ts';
import { tempDatabase } from '../helpers/temp-db.ts';
import { until } from '../helpers/wait.ts';
import { testCycleDeps } from '../helpers/cycle-deps.ts';

// The precision path (docs/benchmarks.md): the real clock's waitUntil, the scheduler's prepare-then-release, and a
// cycle prepared ahead of its slot, whose claim and first attempt row are written before the request may leave.

test('systemClock.waitUntil never resolves before its target, and resolves soon after it', { timeout: 5000 }, async () => {
  const late: number[] = [];
  for (let i = 0; i < 20; i++) {
    const target = Date.now() + 3 + (i % 7); // targets inside and beyond the blocking stretch
    await systemClock.waitUntil!(target);
    const now = Date.now();
    assert.ok(now >= target, `resolved ${target - now} ms early`);
    late.push(now - target);
  }
  // Loose bound: this machine may be loaded; the benchmark measures the real figures.
  assert.ok(late.filter((ms) => ms <= 1).length >= 10, `lateness ${late.join(' ')} ms`);
});

test('systemClock.waitUntil resolves at once for a past target, and when its signal aborts', { timeout: 5000 }, async () => {
  const t = performance.now();
  await systemClock.waitUntil!(Date.now() - 1000);
  const stop = new AbortController();
  setTimeout(() => stop.abort(), 20);
  await systemClock.waitUntil!(Date.now() + 60_000, stop.signal);
  assert.ok(performance.now() - t < 1000, 'neither waited');
  assert.ok(WAKE_EARLY_MS > 0 && WAKE_EARLY_MS < 5);
});

test('runSchedule prepares each slot PREPARE_LEAD_MS ahead, then fires it once, never early', { timeout: 5000 }, async () => {
  const start = T0 + 250;
  const clock = fastClock(start, { earlyMs: 1 });
  const stop = new AbortController();
  const events: [kind: 'prepare' | 'slot', slot: number, at: number][] = [];
  await runSchedule({
    cron: pattern('* * * * * *'),
    clock,
    after: start,
    signal: stop.signal,
    onPrepare: (slot) => events.push(['prepare', slot, clock.now()]),
    onSlot: (slot) => {
      events.push(['slot', slot, clock.now()]);
      if (events.filter((e) => e[0] === 'slot').length === 5) stop.abort();
    },
    onMissed: () => assert.fail('nothing was missed'),
  });
  const slots = [1, 2, 3, 4, 5].map((k) => T0 + k * 1000);
  assert.deepEqual(events.map(([kind, slot]) => [kind, slot]), slots.flatMap((s) => [['prepare', s], ['slot', s]]));
  for (const [kind, slot, at] of events) {
    if (kind === 'slot') assert.ok(at >= slot, `slot fired ${slot - at} ms early`);
    else assert.ok(at < slot && at >= slot - PREPARE_LEAD_MS - 1, `prepared ${slot - at} ms ahead`);
  }
});

test('a stop during the scheduling wait ends the loop before the slot is prepared', { timeout: 5000 }, async () => {
  const clock = fastClock(T0 + 250);
  const stop = new AbortController();
  let prepared = 0;
  let fired = 0;
  stop.abort();
  await runSchedule({ cron: pattern('* * * * * *'), clock, after: T0 + 250, signal: stop.signal, onPrepare: () => prepared++, onSlot: () => fired++, onMissed: () => {} });
  assert.deepEqual([prepared, fired], [0, 0]);
});

/** A cycle prepared for slot T0 + 1000 against a real stub and database; `release` is in the test's hands. */
async function withPreparedCycle(body: (w: { release(r: Release): void; done: Promise<CycleResult>; stub: Awaited<ReturnType<typeof startDiegoStub>>; db: Awaited<ReturnType<typeof tempDatabase>>; log: ReturnType<typeof captureLog> }) => Promise<void>) {
  const stub = await startDiegoStub([{ status: 200 }]);
  const db = await tempDatabase();
  try {
    const clock = fastClock(T0 + 1000 - PREPARE_LEAD_MS);
    const log = captureLog({ now: clock.now });
    const deps = testCycleDeps({ clock, db: db.db, log, diegoUrl: stub.url });
    let release!: (r: Release) => void;
    const gate = new Promise<Release>((resolve) => (release = resolve));
    const done = runCycle({ symbol: 'BTC/USDT', trigger: 'schedule', slot: T0 + 1000, deadline: T0 + 2000 }, deps, new AbortController().signal, gate);
    await body({ release, done, stub, db, log });
  } finally {
    await stub.close();
    await db.cleanup();
  }
}

test('a prepared cycle writes its claim and first attempt row before the slot, and sends only when released', { timeout: 5000 }, async () => {
  await withPreparedCycle(async ({ release, done, stub, db, log }) => {
    await until(async () => (await attemptRows(db.db)).length === 1, 'the first attempt row');
    const [cycle] = await cycleRows(db.db);
    assert.deepEqual([cycle!.status, cycle!.scheduled_at, cycle!.started_at], ['running', T0 + 1000, T0 + 1000], 'claimed ahead; it starts at its slot');
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(stub.received.length, 0, 'nothing sent before the release');
    assert.equal(log.all().length, 0, 'nothing logged before the request leaves');
    release('fire');
    await done;
    assert.equal(stub.received.length, 1);
    assert.match(String(stub.received[0]!.headers['x-sent-at']), /^\d{13}\.\d{3}$/, 'the send time travels with the request');
    const [attempt] = await attemptRows(db.db);
    assert.deepEqual([attempt!.number, attempt!.outcome, attempt!.request_id], [1, 'ok', stub.received[0]!.headers['x-request-id']]);
    assert.equal(attempt!.duration_ms, attempt!.finished_at! - attempt!.started_at);
    assert.equal((await cycleRows(db.db))[0]!.status, 'succeeded');
    const out = log.out.map((l) => l.replace(/^\[[^\]]+\] \[SCHEDULER\] /, ''));
    assert.deepEqual(out.slice(0, 2), [`Starting scalping cycle #${cycle!.id} with Idempotency-Key ${cycle!.idempotency_key}`, 'Calling Diego analysis endpoint...']);
  });
});

test('a prepared cycle whose slot is passed over closes as skipped (missed), its attempt aborted, nothing sent', { timeout: 5000 }, async () => {
  await withPreparedCycle(async ({ release, done, stub, db, log }) => {
    await until(async () => (await attemptRows(db.db)).length === 1, 'the first attempt row');
    release('missed');
    const { ended, ...result } = await done;
    assert.deepEqual(result, { id: 1, status: 'skipped', reason: 'missed', attempts: 1 });
    assert.deepEqual(ended?.attempts, [{ outcome: 'aborted', durationMs: 0 }]);
    assert.ok(ended !== undefined && ended.durationMs >= 0, 'never a negative duration (a cycle closed before its slot lasted nothing)');
    assert.equal(stub.received.length, 0);
    const [cycle] = await cycleRows(db.db);
    assert.deepEqual([cycle!.status, cycle!.reason, cycle!.attempts], ['skipped', 'missed', 1]);
    const [attempt] = await attemptRows(db.db);
    assert.deepEqual([attempt!.outcome, attempt!.error, attempt!.duration_ms], ['aborted', 'not sent: its slot was passed over', 0]);
    assert.equal(log.out.length, 0);
    assert.equal(log.err.length, 1);
    assert.match(log.err[0]!, /Slot .* passed over: not fired: a later slot was already due/);
  });
});

test('a prepared cycle told of a shutdown before its slot closes as interrupted, nothing sent', { timeout: 5000 }, async () => {
  await withPreparedCycle(async ({ release, done, stub, db }) => {
    await until(async () => (await attemptRows(db.db)).length === 1, 'the first attempt row');
    release('shutdown');
    const { ended, ...result } = await done;
    assert.deepEqual(result, { id: 1, status: 'interrupted', reason: 'shutdown', attempts: 1 });
    assert.equal(ended?.status, 'interrupted');
    assert.equal(stub.received.length, 0);
    assert.deepEqual((await attemptRows(db.db)).map((a) => [a.outcome, a.error]), [['aborted', 'not sent: stopped before its slot']]);
  });
});
