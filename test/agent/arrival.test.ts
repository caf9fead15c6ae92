import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCycle, type CycleJob, type Gate, type Release } from '../../src/agent/cycle.ts';
import { PREPARE_LEAD_MS } from '../../src/agent/scheduler.ts';
import { LATE_SEND_MS, type SendCheck } from '../../src/agent/send-check.ts';
import { createDiegoClient, type DiegoClient } from '../../src/diego/client.ts';
import { T0 } from '../helpers/agent-harness.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { startDiegoStub, type DiegoStub } from '../helpers/diego-stub.ts';
import { fastClock, type FastClock } from '../helpers/fast-clock.ts';
import { attemptRows } from '../helpers/history-rows.ts';
import { tempDatabase } from '../helpers/temp-db.ts';
import { until } from '../helpers/wait.ts';
import { testCycleDeps } from '../helpers/cycle-deps.ts';

// The boundary itself: a prepared cycle hangs `atBoundary` on its gate, which the agent calls synchronously at the
// slot. On time, the request is written inside that call (before any log line, row update or promise hop); late, or
// with a decision that changed the body, nothing is written there and the asynchronous path decides as before.

const SLOT = T0 + 1000;

interface Boundary {
  clock: FastClock;
  gate: Gate;
  release(r: Release): void;
  done: Promise<unknown>;
  /** Requests the client wrote, counted at the write (send), not at the server. */
  writes(): number;
  stub: DiegoStub;
  log: ReturnType<typeof captureLog>;
}

async function withBoundary(check: SendCheck | undefined, body: (b: Boundary) => Promise<void>): Promise<void> {
  const stub = await startDiegoStub([{ status: 200 }]);
  const db = await tempDatabase();
  try {
    const clock = fastClock(SLOT - PREPARE_LEAD_MS, { frozen: true });
    const log = captureLog({ now: clock.now });
    const real = createDiegoClient({ baseUrl: stub.url, maxResponseBytes: 1 << 20, now: clock.now });
    let writes = 0;
    const client: DiegoClient = {
      prepare(req, opts) {
        const p = real.prepare(req, opts);
        return { send: () => (writes++, p.send()), cancel: p.cancel };
      },
      close: real.close,
    };
    const deps = testCycleDeps({ clock, db: db.db, log, diegoUrl: stub.url }, { client });
    let release!: (r: Release) => void;
    const gate: Gate = new Promise<Release>((resolve) => (release = resolve));
    const job: CycleJob = { symbol: 'BTC/USDT', trigger: 'schedule', slot: SLOT, deadline: SLOT + 1000, check };
    const done = runCycle(job, deps, new AbortController().signal, gate);
    await until(async () => gate.atBoundary !== undefined && (await attemptRows(db.db)).length === 1, 'the cycle prepared up to its write');
    try {
      await body({ clock, gate, release, done, writes: () => writes, stub, log });
    } finally {
      real.close?.();
    }
  } finally {
    await stub.close();
    await db.cleanup();
  }
}

test('on time, the prepared request is written inside atBoundary, before any log line; the cycle then goes on and succeeds', async () => {
  await withBoundary(undefined, async ({ clock, gate, release, done, writes, stub, log }) => {
    clock.jump(PREPARE_LEAD_MS); // the boundary
    assert.equal(writes(), 0);
    gate.atBoundary!();
    assert.equal(writes(), 1, 'written synchronously at the boundary');
    assert.equal(log.all().length, 0, 'no log line before the write');
    release('fire');
    assert.equal(((await done) as { status: string }).status, 'succeeded');
    assert.equal(stub.received.length, 1, 'once');
    assert.equal(writes(), 1);
  });
});

test('late past LATE_SEND_MS, nothing is written at the boundary: the asynchronous path re-checks and sends it once', async () => {
  let reads = 0;
  const check: SendCheck = { atSlot: () => ({ kind: 'fire', execution: true }), fromDatabase: async () => (reads++, { kind: 'fire', execution: true }) };
  await withBoundary(check, async ({ clock, gate, release, done, writes, stub }) => {
    clock.jump(PREPARE_LEAD_MS + LATE_SEND_MS + 50); // a stalled process wakes late
    gate.atBoundary!();
    assert.equal(writes(), 0, 'a late request is not written on the copy’s word');
    release('fire');
    assert.equal(((await done) as { status: string }).status, 'succeeded');
    assert.equal(reads, 1, 'the database was asked before the late send');
    assert.equal(stub.received.length, 1);
  });
});

test('a kill switch seen at the boundary changes the body: the held request is dropped unwritten, a fresh one says triggerExecution false', async () => {
  let off = false;
  const check: SendCheck = {
    atSlot: () => (off ? { kind: 'fire', execution: false, why: 'execution paused by test: kill switch' } : { kind: 'fire', execution: true }),
    fromDatabase: async () => ({ kind: 'fire', execution: true }),
  };
  await withBoundary(check, async ({ clock, gate, release, done, writes, stub }) => {
    off = true; // after the prepare, before the slot
    clock.jump(PREPARE_LEAD_MS);
    gate.atBoundary!();
    assert.equal(writes(), 0, 'not written as prepared');
    release('fire');
    await done;
    assert.equal(stub.received.length, 1, 'one request reached Diego');
    assert.equal(JSON.parse(stub.received[0]!.body).triggerExecution, false);
  });
});
