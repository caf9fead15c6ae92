import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCycle, type CycleDeps, type CycleJob, type CycleResult, type EndedCycle } from '../../src/agent/cycle.ts';
import { createRedactor } from '../../src/log/redact.ts';
import { VERSION } from '../../src/version.ts';
import { T0 } from '../helpers/agent-harness.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { analysisOk, freePort, heldReply, startDiegoStub, type DiegoStub, type Reply } from '../helpers/diego-stub.ts';
import { fastClock, type FastClock } from '../helpers/fast-clock.ts';
import { attemptRows, cycleRows } from '../helpers/history-rows.ts';
import { tempDatabase } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';
import { testCycleDeps } from '../helpers/cycle-deps.ts';

// runCycle against a real HTTP stub on 127.0.0.1 and a real SQLite file. The fast clock makes retry delays cost
// nothing while recording them exactly; only the timeout tests wait for real (≤ 300 ms), since a real HTTP timeout
// is what they test.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const EXACT_BODY = '{"symbol":"BTC/USDT","timeframe":"1m","triggerExecution":true}';

interface WorldOptions {
  attempts?: number;
  delayMs?: number;
  timeoutMs?: number;
  token?: string;
  /** Where the client sends its requests; the stub's URL by default. */
  baseUrl?: string;
}

interface World {
  stub: DiegoStub;
  clock: FastClock;
  log: ReturnType<typeof captureLog>;
  db: Awaited<ReturnType<typeof tempDatabase>>;
  deps: CycleDeps;
  /** One cycle for slot T0 with its deadline a minute later, unless `job` says otherwise. */
  run(job?: Partial<CycleJob>, abort?: AbortSignal): Promise<Omit<CycleResult, 'ended'>>;
  /** The last run's cycle as it was handed to the metrics file. */
  ended(): EndedCycle | undefined;
}

/** A stub scripted with `script`, a migrated database, and the cycle's real dependencies; all closed afterwards. */
async function withWorld(script: Reply[], opts: WorldOptions, body: (w: World) => Promise<void>): Promise<void> {
  const stub = await startDiegoStub(script);
  const db = await tempDatabase();
  try {
    const clock = fastClock(T0);
    const redact = createRedactor([opts.token]);
    const log = captureLog({ now: clock.now, redact });
    const deps = testCycleDeps({ clock, db: db.db, log, diegoUrl: opts.baseUrl ?? stub.url, token: opts.token, redact }, { retry: { attempts: opts.attempts ?? 3, delayMs: opts.delayMs ?? 1000 }, diegoTimeoutMs: opts.timeoutMs ?? 20_000 });
    // The result without `ended` (what the metrics file is fed), which `ended()` gives for the last run.
    let last: EndedCycle | undefined;
    const run = async (job: Partial<CycleJob> = {}, abort = new AbortController().signal) => {
      const { ended, ...result } = await runCycle({ symbol: 'BTC/USDT', trigger: 'schedule', slot: T0, deadline: T0 + 60_000, ...job }, deps, abort);
      last = ended;
      return result;
    };
    await body({ stub, clock, log, db, deps, run, ended: () => last });
  } finally {
    await stub.close();
    await db.cleanup();
  }
}

/** Log lines without their `[time] [SCHEDULER] ` prefix. */
const messages = (lines: string[]) => lines.map((l) => l.replace(/^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] \[SCHEDULER\] /, '')).filter((m) => !DEBUG_LINE.test(m));
/** The cycle's debug lines (LOG_LEVEL=debug: its key, slot and deadline; each attempt's request id, timeout and outcome). */
const DEBUG_LINE = /^Attempt \d+ of cycle #\d+ \(Idempotency-Key /;
const debugMessages = (lines: string[]) => lines.map((l) => l.replace(/^\[\d{4}-\d\d-\d\dT[\d:.]+Z\] \[SCHEDULER\] /, '')).filter((m) => DEBUG_LINE.test(m));

const hang: Reply = () => {}; // never answers; the client's timeout must end the attempt
const unavailable: Reply = { status: 503, body: { success: false, error: 'overloaded' } };

test('the request: POST /analyze, JSON body, Idempotency-Key, X-Request-Id, User-Agent and the bearer token', async () => {
  await withWorld([{ status: 200, body: analysisOk() }], { token: 'tok-0123456789' }, async ({ stub, db, log, run }) => {
    const result = await run();
    assert.equal(result.status, 'succeeded');

    assert.equal(stub.received.length, 1);
    const req = stub.received[0]!;
    assert.equal(req.method, 'POST');
    assert.equal(req.path, '/analyze');
    assert.equal(req.body, EXACT_BODY);
    assert.equal(req.headers['content-type'], 'application/json');
    assert.equal(req.headers['user-agent'], `pmf-scheduler/${VERSION}`);
    assert.equal(req.headers.authorization, 'Bearer tok-0123456789');
    assert.match(String(req.headers['idempotency-key']), UUID);
    assert.match(String(req.headers['x-request-id']), UUID);
    assert.notEqual(req.headers['idempotency-key'], req.headers['x-request-id']);

    const [cycle] = await cycleRows(db.db);
    assert.equal(cycle!.idempotency_key, req.headers['idempotency-key']);
    assert.equal(cycle!.status, 'succeeded');
    assert.equal(cycle!.symbol, 'BTC/USDT');
    assert.equal(cycle!.timeframe, '1m');
    assert.equal(cycle!.trigger, 'schedule');
    assert.equal(cycle!.scheduled_at, T0);
    assert.equal(cycle!.attempts, 1);
    assert.equal(cycle!.http_status, 200);
    assert.equal(cycle!.executed, 1);
    assert.equal(cycle!.summary, 'BUY 0.8 @ 97000 · placed o-1 buy 0.001', 'the brief of the answer; the log line has the longer form');
    const [attempt] = await attemptRows(db.db);
    assert.equal(attempt!.request_id, req.headers['x-request-id']);
    assert.equal(attempt!.outcome, 'ok');
    assert.equal(attempt!.response_excerpt, null, "an ok answer's body is not kept: the cycle's summary holds it");

    assert.deepEqual(messages(log.out), [
      `Starting scalping cycle #${cycle!.id} with Idempotency-Key ${cycle!.idempotency_key}`,
      'Calling Diego analysis endpoint...',
      'Diego response: 200 { success: true, signal: BUY, confidence: 0.8, price: 97000, execution: placed o-1 buy 0.001 }',
      'Scalping cycle completed successfully',
    ]);
    assert.deepEqual(log.err, []);
    // LOG_LEVEL=debug (issue 24 item 15): the Idempotency-Key Diego logs, and each attempt's request id and outcome.
    const key = String(req.headers['idempotency-key']);
    assert.deepEqual(debugMessages(log.out).map((m) => m.replace(/ after \d+ ms$/, ' after N ms')), [
      `Attempt 1 of cycle #${cycle!.id} (Idempotency-Key ${key}, deadline 2024-01-22T10:01:00.000Z): request ${String(req.headers['x-request-id'])} sent BTC/USDT 1m triggerExecution=true, timeout 20000 ms; ok after N ms`,
    ]);
  });
});

test('no Authorization header when no token is set', async () => {
  await withWorld([{ status: 200 }], {}, async ({ stub, run }) => {
    assert.equal((await run()).status, 'succeeded');
    assert.equal(stub.received.length, 1);
    assert.equal('authorization' in stub.received[0]!.headers, false);
  });
});

test('done when: Diego fails twice (503, 500) then answers → 3 POSTs with one Idempotency-Key, 3 attempt rows, one succeeded cycle', async () => {
  await withWorld([unavailable, { status: 500, body: { success: false, error: 'boom' } }, { status: 200, body: analysisOk() }], { delayMs: 1500 }, async (world) => {
    const { stub, db, clock, log, run } = world;
    const result = await run();
    assert.deepEqual(result, { id: 1, status: 'succeeded', attempts: 3 });
    const ended = world.ended();
    assert.deepEqual([ended?.status, ended?.attempts.map((a) => a.outcome)], ['succeeded', ['http_error', 'http_error', 'ok']], 'the metrics see the cycle as recorded');

    assert.equal(stub.received.length, 3);
    const keys = new Set(stub.received.map((r) => r.headers['idempotency-key']));
    assert.equal(keys.size, 1, 'one Idempotency-Key for every attempt of the cycle');
    const requestIds = stub.received.map((r) => String(r.headers['x-request-id']));
    assert.equal(new Set(requestIds).size, 3, 'a new X-Request-Id per attempt');
    for (const r of stub.received) assert.equal(r.body, EXACT_BODY);
    assert.deepEqual(clock.sleeps, [1500, 1500], 'RETRY_DELAY_MS between attempts, none after the last');

    const cycles = await cycleRows(db.db);
    assert.equal(cycles.length, 1);
    assert.equal(cycles[0]!.status, 'succeeded');
    assert.equal(cycles[0]!.attempts, 3);
    assert.equal(cycles[0]!.idempotency_key, [...keys][0]);
    assert.equal(cycles[0]!.reason, null);
    assert.deepEqual([ended?.finishedAt, ended?.durationMs], [cycles[0]!.finished_at, cycles[0]!.finished_at! - cycles[0]!.started_at], 'the same times as the row');
    const attempts = await attemptRows(db.db);
    assert.deepEqual(
      attempts.map((a) => [a.cycle_id, a.number, a.outcome, a.http_status, a.request_id]),
      [
        [1, 1, 'http_error', 503, requestIds[0]],
        [1, 2, 'http_error', 500, requestIds[1]],
        [1, 3, 'ok', 200, requestIds[2]],
      ],
    );
    assert.equal(attempts[1]!.error, 'HTTP 500: boom');
    assert.deepEqual(attempts.map((a) => a.response_excerpt), [attempts[0]!.response_excerpt, '{"success":false,"error":"boom"}', null], 'a failed answer keeps its body');
    for (const a of attempts) {
      assert.ok(a.finished_at! >= a.started_at);
      assert.equal(a.duration_ms, a.finished_at! - a.started_at);
    }
    assert.ok(attempts[1]!.started_at >= attempts[0]!.finished_at! + 1500, 'the delay lies between the attempts');

    assert.deepEqual(messages(log.err), [
      'Attempt 1/3 failed: http_error (HTTP 503: overloaded); retrying in 1500 ms',
      'Attempt 2/3 failed: http_error (HTTP 500: boom); retrying in 1500 ms',
    ]);
    assert.deepEqual(messages(log.out), [
      `Starting scalping cycle #1 with Idempotency-Key ${(await cycleRows(db.db))[0]!.idempotency_key}`,
      'Calling Diego analysis endpoint...',
      'Calling Diego analysis endpoint... (attempt 2/3)',
      'Calling Diego analysis endpoint... (attempt 3/3)',
      'Diego response: 200 { success: true, signal: BUY, confidence: 0.8, price: 97000, execution: placed o-1 buy 0.001 }',
      'Scalping cycle completed successfully',
    ]);
  });
});

test('each cycle has its own Idempotency-Key', async () => {
  await withWorld([unavailable, { status: 200 }], {}, async ({ stub, db, run }) => {
    await run({ slot: T0, deadline: T0 + 60_000 });
    await run({ slot: T0 + 60_000, deadline: T0 + 120_000 });
    assert.equal(stub.received.length, 3);
    const [a1, a2, b1] = stub.received.map((r) => r.headers['idempotency-key']);
    assert.equal(a1, a2);
    assert.notEqual(a1, b1);
    assert.deepEqual((await cycleRows(db.db)).map((c) => [c.idempotency_key, c.status, c.attempts]), [
      [a1, 'succeeded', 2],
      [b1, 'succeeded', 1],
    ]);
  });
});

test('RETRY_ATTEMPTS bounds the POSTs of a cycle, RETRY_DELAY_MS apart', async () => {
  for (const attempts of [1, 4]) {
    await withWorld([unavailable], { attempts, delayMs: 250 }, async ({ stub, db, clock, log, run }) => {
      const result = await run();
      assert.deepEqual(result, { id: 1, status: 'failed', reason: 'http_error', attempts });
      assert.equal(stub.received.length, attempts, `RETRY_ATTEMPTS=${attempts}`);
      assert.deepEqual(clock.sleeps, Array(attempts - 1).fill(250));
      const [cycle] = await cycleRows(db.db);
      assert.equal(cycle!.status, 'failed');
      assert.equal(cycle!.reason, 'http_error');
      assert.equal(cycle!.error, 'HTTP 503: overloaded');
      assert.equal(cycle!.attempts, attempts);
      assert.deepEqual((await attemptRows(db.db)).map((a) => [a.number, a.outcome, a.http_status]), Array.from({ length: attempts }, (_, i) => [i + 1, 'http_error', 503]));
      assert.equal(messages(log.err).at(-1), `Scalping cycle #1 failed after ${attempts} attempt(s): HTTP 503: overloaded`);
    });
  }
});

test('408, 425, 429, 502, 504 and a refused connection are retried', async () => {
  for (const status of [408, 425, 429, 502, 504]) {
    await withWorld([{ status }, { status: 200 }], { delayMs: 100 }, async ({ stub, db, clock, run }) => {
      assert.equal((await run()).status, 'succeeded', `HTTP ${status}`);
      assert.equal(stub.received.length, 2, `HTTP ${status}`);
      assert.deepEqual(clock.sleeps, [100]);
      assert.deepEqual((await attemptRows(db.db)).map((a) => [a.outcome, a.http_status]), [['http_error', status], ['ok', 200]]);
    });
  }
  const closed = `http://127.0.0.1:${await freePort()}`;
  await withWorld([], { attempts: 2, delayMs: 100, baseUrl: closed }, async ({ db, clock, run }) => {
    assert.deepEqual(await run(), { id: 1, status: 'failed', reason: 'network_error', attempts: 2 });
    assert.deepEqual(clock.sleeps, [100]);
    const attempts = await attemptRows(db.db);
    assert.deepEqual(attempts.map((a) => a.outcome), ['network_error', 'network_error']);
    assert.match(attempts[0]!.error!, /ECONNREFUSED/);
  });
});

test('400, 401, 404 and 422 are not retried: the cycle fails at once with reason rejected', async () => {
  for (const status of [400, 401, 404, 422]) {
    await withWorld([{ status, body: { success: false, error: 'bad symbol' } }, { status: 200 }], {}, async ({ stub, db, clock, log, run }) => {
      assert.deepEqual(await run(), { id: 1, status: 'failed', reason: 'rejected', attempts: 1 }, `HTTP ${status}`);
      assert.equal(stub.received.length, 1, `HTTP ${status}: one POST`);
      assert.deepEqual(clock.sleeps, []);
      const [cycle] = await cycleRows(db.db);
      assert.deepEqual([cycle!.status, cycle!.reason, cycle!.attempts, cycle!.http_status, cycle!.error], ['failed', 'rejected', 1, status, `HTTP ${status}: bad symbol`]);
      assert.deepEqual((await attemptRows(db.db)).map((a) => [a.outcome, a.http_status]), [['rejected', status]]);
      assert.equal(messages(log.err).at(-1), `Scalping cycle #1 failed after 1 attempt(s): HTTP ${status}: bad symbol`);
    });
  }
});

test('Retry-After on 429/503 is honoured when longer (seconds or HTTP-date), capped at 60 s, ignored on 500', async () => {
  const cases: Array<[string, number, string, number, (ms: number) => boolean]> = [
    ['503, 7 seconds', 503, '7', 1000, (ms) => ms === 7000],
    ['429, an HTTP-date 10 s ahead', 429, new Date(T0 + 10_000).toUTCString(), 1000, (ms) => ms > 9_500 && ms <= 10_000],
    ['503, shorter than RETRY_DELAY_MS', 503, '1', 5000, (ms) => ms === 5000],
    ['429, one hour: capped', 429, '3600', 1000, (ms) => ms === 60_000],
    ['500: not honoured', 500, '30', 1000, (ms) => ms === 1000],
  ];
  for (const [name, status, retryAfter, delayMs, expected] of cases) {
    await withWorld([{ status, headers: { 'retry-after': retryAfter } }, { status: 200 }], { delayMs }, async ({ stub, db, clock, run }) => {
      const result = await run({ deadline: T0 + 3_600_000 });
      assert.equal(result.status, 'succeeded', name);
      assert.equal(stub.received.length, 2, name);
      assert.equal(clock.sleeps.length, 1, name);
      assert.ok(expected(clock.sleeps[0]!), `${name}: slept ${clock.sleeps[0]} ms`);
      const attempts = await attemptRows(db.db);
      assert.ok(attempts[1]!.started_at >= attempts[0]!.finished_at! + clock.sleeps[0]!, name);
    });
  }
});

test('a timeout (DIEGO_TIMEOUT_MS) ends the attempt with outcome timeout, and it is retried', async () => {
  await withWorld([hang, { status: 200 }], { timeoutMs: 150, delayMs: 100 }, async ({ stub, db, clock, run }) => {
    const started = performance.now();
    assert.deepEqual(await run(), { id: 1, status: 'succeeded', attempts: 2 });
    assert.ok(performance.now() - started < 3000);
    assert.equal(stub.received.length, 2);
    assert.equal(stub.received[0]!.headers['idempotency-key'], stub.received[1]!.headers['idempotency-key']);
    assert.deepEqual(clock.sleeps, [100]);
    const [first, second] = await attemptRows(db.db);
    assert.equal(first!.outcome, 'timeout');
    assert.equal(first!.http_status, null);
    assert.equal(first!.error, 'no complete answer within 150 ms');
    assert.ok(first!.duration_ms! >= 149 && first!.duration_ms! < 1500, `duration ${first!.duration_ms}`);
    assert.equal(second!.outcome, 'ok');
  });
});

test('the timeout also covers a body that stalls after the headers', async () => {
  const stall: Reply = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"success":');
  };
  await withWorld([stall], { timeoutMs: 150, attempts: 1 }, async ({ stub, db, run }) => {
    assert.deepEqual(await run(), { id: 1, status: 'failed', reason: 'timeout', attempts: 1 });
    assert.equal(stub.received.length, 1);
    const [attempt] = await attemptRows(db.db);
    assert.deepEqual([attempt!.outcome, attempt!.http_status], ['timeout', 200]);
    assert.ok(attempt!.duration_ms! >= 149 && attempt!.duration_ms! < 1500, `duration ${attempt!.duration_ms}`);
  });
});

test('success: false in a 200 is invalid_response, retried; the body is kept as an excerpt', async () => {
  const refusal = { success: false, error: 'exchange unavailable' };
  await withWorld([{ status: 200, body: refusal }, { status: 200, body: analysisOk('HOLD') }], {}, async ({ stub, db, log, run }) => {
    assert.deepEqual(await run(), { id: 1, status: 'succeeded', attempts: 2 });
    assert.equal(stub.received.length, 2);
    const [first, second] = await attemptRows(db.db);
    assert.deepEqual([first!.outcome, first!.http_status, first!.error], ['invalid_response', 200, 'success: false: exchange unavailable']);
    assert.equal(first!.response_excerpt, JSON.stringify(refusal));
    assert.equal(second!.outcome, 'ok');
    const [cycle] = await cycleRows(db.db);
    assert.equal(cycle!.executed, 0, 'HOLD placed no order');
    assert.ok(messages(log.out).includes('Diego response: 200 { success: true, signal: HOLD, confidence: 0.8, price: 97000, execution: none signal HOLD }'));
  });
});

test('a body that is not JSON is invalid_response, retried until RETRY_ATTEMPTS', async () => {
  await withWorld([{ status: 200, body: '<html>gateway</html>', headers: { 'content-type': 'text/html' } }], { attempts: 2 }, async ({ stub, db, run }) => {
    assert.deepEqual(await run(), { id: 1, status: 'failed', reason: 'invalid_response', attempts: 2 });
    assert.equal(stub.received.length, 2);
    const attempts = await attemptRows(db.db);
    assert.deepEqual(attempts.map((a) => [a.outcome, a.http_status, a.error, a.response_excerpt]), [
      ['invalid_response', 200, 'body is not a JSON object', '<html>gateway</html>'],
      ['invalid_response', 200, 'body is not a JSON object', '<html>gateway</html>'],
    ]);
    assert.equal((await cycleRows(db.db))[0]!.error, 'body is not a JSON object');
  });
});

test('a redirect is not followed: rejected, the target never sees the POST', async () => {
  const target = await startDiegoStub([{ status: 200 }]);
  try {
    const location = `${target.url}/analyze`;
    await withWorld([{ status: 307, headers: { location } }], {}, async ({ stub, db, clock, run }) => {
      assert.deepEqual(await run(), { id: 1, status: 'failed', reason: 'rejected', attempts: 1 });
      assert.equal(stub.received.length, 1);
      assert.equal(target.received.length, 0);
      assert.deepEqual(clock.sleeps, []);
      const [attempt] = await attemptRows(db.db);
      assert.deepEqual([attempt!.outcome, attempt!.http_status, attempt!.error], ['rejected', 307, `HTTP 307: redirect to ${location} not followed`]);
    });
  } finally {
    await target.close();
  }
});

test('deadline: an attempt is cut at the next slot (remaining time, not DIEGO_TIMEOUT_MS); the cycle fails with reason deadline', async () => {
  const deadline = T0 + 300;
  await withWorld([hang, { status: 200 }], { timeoutMs: 10_000 }, async ({ stub, db, clock, log, run }) => {
    const started = performance.now();
    assert.deepEqual(await run({ deadline }), { id: 1, status: 'failed', reason: 'deadline', attempts: 1 });
    assert.ok(performance.now() - started < 3000, 'cut long before DIEGO_TIMEOUT_MS');
    assert.equal(stub.received.length, 1, 'no retry after the deadline');
    assert.deepEqual(clock.sleeps, []);

    const [attempt] = await attemptRows(db.db);
    // The attempt's timeout was exactly the time left before the next slot, and it ran for that long.
    const remaining = deadline - attempt!.started_at;
    assert.ok(remaining > 0 && remaining <= 300, `remaining ${remaining}`);
    assert.equal(attempt!.outcome, 'timeout');
    assert.equal(attempt!.error, `no complete answer within ${remaining} ms`);
    assert.ok(attempt!.duration_ms! >= remaining - 1 && attempt!.duration_ms! < remaining + 1500, `duration ${attempt!.duration_ms} for ${remaining} ms remaining`);

    const [cycle] = await cycleRows(db.db);
    assert.deepEqual([cycle!.status, cycle!.reason, cycle!.attempts], ['failed', 'deadline', 1]);
    assert.equal(cycle!.deadline_at, deadline);
    assert.equal(cycle!.error, `deadline: the next slot ${new Date(deadline).toISOString()} came before an answer; last error: no complete answer within ${remaining} ms`);
    assert.equal(
      messages(log.err).at(-1),
      `Scalping cycle #1 failed after 1 attempt(s): stopped at its deadline, the next slot (${new Date(deadline).toISOString()}); the cron pattern may be too tight for Diego`,
    );
  });
});

test('deadline: no attempt starts at or after it (a retry delay or Retry-After reaching it stops the cycle)', async () => {
  const deadline = T0 + 1000;
  const cases: Array<[string, Reply, number, number]> = [
    ['RETRY_DELAY_MS past the deadline', unavailable, 5000, 1],
    ['Retry-After past the deadline', { status: 503, headers: { 'retry-after': '2' } }, 100, 1],
    ['one delay fits, the second does not', unavailable, 600, 2],
  ];
  for (const [name, reply, delayMs, posts] of cases) {
    await withWorld([reply], { delayMs, attempts: 5 }, async ({ stub, db, clock, log, run }) => {
      assert.deepEqual(await run({ deadline }), { id: 1, status: 'failed', reason: 'deadline', attempts: posts }, name);
      assert.equal(stub.received.length, posts, name);
      assert.deepEqual(clock.sleeps, Array(posts - 1).fill(delayMs), name);
      const attempts = await attemptRows(db.db);
      assert.equal(attempts.length, posts, name);
      for (const a of attempts) assert.ok(a.started_at < deadline, `${name}: attempt ${a.number} started at T0+${a.started_at - T0}`);
      const [cycle] = await cycleRows(db.db);
      assert.deepEqual([cycle!.status, cycle!.reason, cycle!.attempts], ['failed', 'deadline', posts], name);
      // Diego answered: the pattern is not too tight for Diego, the delay is too long for the pattern.
      assert.match(messages(log.err).at(-1)!, /failed after \d attempt\(s\): no time left for a retry: the next slot .* comes before RETRY_DELAY_MS \(\d+ ms\) has passed; last error: HTTP 503/, name);
      assert.match(cycle!.error!, /^no time left for a retry: /, name);
    });
  }
});

test('deadline: a cycle whose next slot has already come sends nothing, and is recorded passed over (missed), not failed', async () => {
  await withWorld([{ status: 200 }], {}, async ({ stub, db, run }) => {
    assert.deepEqual(await run({ slot: T0 - 2000, deadline: T0 - 1000 }), { id: 1, status: 'skipped', reason: 'missed', attempts: 0 });
    assert.equal(stub.received.length, 0);
    assert.deepEqual(await attemptRows(db.db), []);
    const [cycle] = await cycleRows(db.db);
    assert.deepEqual([cycle!.status, cycle!.reason, cycle!.attempts], ['skipped', 'missed', 0]);
  });
});

test('every attempt is recorded: rows are written running at start, while Diego holds the request, and closed at the end', async () => {
  const held = heldReply();
  await withWorld([unavailable, held.reply], { delayMs: 100 }, async ({ stub, db, run }) => {
    const running = run();
    await within(held.held, 2000, 'the stub to receive the request');

    const [cycle] = await cycleRows(db.db);
    assert.deepEqual([cycle!.status, cycle!.finished_at, cycle!.reason], ['running', null, null]);
    assert.equal(cycle!.owner, 'test-host:1');
    const open = await attemptRows(db.db);
    assert.equal(open.length, 2);
    assert.deepEqual([open[0]!.outcome, open[0]!.http_status], ['http_error', 503], 'the first attempt already closed');
    assert.ok(open[0]!.finished_at !== null);
    assert.deepEqual([open[1]!.number, open[1]!.outcome, open[1]!.finished_at, open[1]!.duration_ms], [2, null, null, null], 'the held attempt is open');
    assert.equal(open[1]!.request_id, stub.received[1]!.headers['x-request-id']);

    held.release(200);
    assert.deepEqual(await running, { id: 1, status: 'succeeded', attempts: 2 });
    const [closedCycle] = await cycleRows(db.db);
    assert.equal(closedCycle!.status, 'succeeded');
    assert.ok(closedCycle!.finished_at! >= closedCycle!.started_at);
    const closed = await attemptRows(db.db);
    assert.deepEqual([closed[1]!.outcome, closed[1]!.http_status], ['ok', 200]);
    assert.equal(closed[1]!.duration_ms, closed[1]!.finished_at! - closed[1]!.started_at);
  });
});

test('a shutdown abort ends the in-flight attempt aborted and the cycle interrupted', async () => {
  const held = heldReply();
  await withWorld([held.reply], {}, async ({ stub, db, log, run }) => {
    const abort = new AbortController();
    const running = run({}, abort.signal);
    await within(held.held, 2000, 'the stub to receive the request');
    abort.abort();
    assert.deepEqual(await running, { id: 1, status: 'interrupted', reason: 'shutdown', attempts: 1 });
    assert.equal(stub.received.length, 1);
    const [attempt] = await attemptRows(db.db);
    assert.deepEqual([attempt!.outcome, attempt!.error], ['aborted', 'aborted at shutdown']);
    assert.ok(attempt!.finished_at !== null);
    const [cycle] = await cycleRows(db.db);
    assert.deepEqual([cycle!.status, cycle!.reason, cycle!.error, cycle!.attempts], ['interrupted', 'shutdown', 'interrupted by shutdown', 1]);
    assert.equal(messages(log.err).at(-1), 'Scalping cycle #1 interrupted by shutdown after 1 attempt(s)');
  });
});
