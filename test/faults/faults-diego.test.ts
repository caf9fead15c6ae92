import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { T0 } from '../helpers/agent-harness.ts';
import { analysisOk, freePort, startDiegoStub, type DiegoStub, type Reply } from '../helpers/diego-stub.ts';
import { attemptRows, cycleRows, type AttemptRow, type CycleRow } from '../helpers/history-rows.ts';
import { scene } from '../helpers/scene.ts';
import { withHooks } from '../helpers/slot-hooks.ts';
import { until } from '../helpers/wait.ts';

// Diego misbehaving in every way the issue lists, against real HTTP servers on 127.0.0.1, through runAgent with
// the harness's fast clock: one slot per fault, in one agent run, so "the agent keeps running" is shown by the
// slots that follow each fault. Only the timeouts cost real time (DIEGO_TIMEOUT_MS=300).

const MINUTE = 60_000;
const ENV = { CRON_PATTERN: '0 * * * * *', RETRY_ATTEMPTS: '3', RETRY_DELAY_MS: '1000', DIEGO_TIMEOUT_MS: '300' };
const ok: Reply = { status: 200, body: analysisOk() };

/** Never answers: the attempt's timeout must end it. */
const hang: Reply = () => {};

/** Headers at once, then one byte every 50 ms, forever: the timeout must cover the body too. */
const trickle: Reply = (_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.write('{');
  const timer = setInterval(() => res.write(' '), 50);
  res.on('close', () => clearInterval(timer));
};

/** Half a body, then the connection is reset. */
const reset: Reply = (req, res) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': '1000' });
  res.write('{"success":tr', () => setTimeout(() => req.socket.destroy(), 10));
};

/** What the 50 MB reply really sent before the client hung up. */
const huge = { declared: 50 * 1024 * 1024, sent: 0 };
/** A 50 MB JSON-looking body, streamed with backpressure so the stub itself never holds it. */
const fiftyMegabytes: Reply = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(huge.declared) });
  const chunk = Buffer.alloc(64 * 1024, 'a');
  chunk.write('{"success":true,"pad":"');
  const pump = () => {
    while (huge.sent < huge.declared && !res.destroyed) {
      huge.sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', pump);
    }
    if (!res.destroyed) res.end();
  };
  pump();
};

interface FaultCase {
  name: string;
  replies: Reply[];
  /** [outcome, HTTP status] of each attempt, in order. */
  attempts: [string, number | null][];
  cycle: 'succeeded' | ['failed', string];
  /** Extra checks on the cycle's rows. */
  check?: (cycle: CycleRow, attempts: AttemptRow[]) => void;
}

let agentNow = () => T0; // the agent's clock, for a Retry-After date it will read against its own time

const CASES: FaultCase[] = [
  { name: '500 three times', replies: [{ status: 500 }, { status: 500 }, { status: 500 }], attempts: [['http_error', 500], ['http_error', 500], ['http_error', 500]], cycle: ['failed', 'http_error'] },
  { name: '502, 503, 504', replies: [{ status: 502 }, { status: 503 }, { status: 504 }], attempts: [['http_error', 502], ['http_error', 503], ['http_error', 504]], cycle: ['failed', 'http_error'] },
  {
    name: '503 with Retry-After in seconds',
    replies: [{ status: 503, headers: { 'retry-after': '5' } }, ok],
    attempts: [['http_error', 503], ['ok', 200]],
    cycle: 'succeeded',
    check: (_, a) => assertWaited(a, 5000, 5000),
  },
  {
    name: '429 with Retry-After as an HTTP-date',
    replies: [(_req, res) => res.writeHead(429, { 'retry-after': new Date(agentNow() + 4000).toUTCString() }).end(), ok],
    attempts: [['http_error', 429], ['ok', 200]],
    cycle: 'succeeded',
    check: (_, a) => assertWaited(a, 3000, 4000), // an HTTP-date has whole seconds
  },
  {
    name: '503 with Retry-After as an HTTP-date',
    replies: [(_req, res) => res.writeHead(503, { 'retry-after': new Date(agentNow() + 3000).toUTCString() }).end(), ok],
    attempts: [['http_error', 503], ['ok', 200]],
    cycle: 'succeeded',
    check: (_, a) => assertWaited(a, 2000, 3000),
  },
  ...[400, 401, 404, 422].map((status): FaultCase => ({ name: `${status}, not retried`, replies: [{ status, body: { success: false, error: 'no' } }], attempts: [['rejected', status]], cycle: ['failed', 'rejected'] })),
  {
    name: 'a hang past DIEGO_TIMEOUT_MS',
    replies: [hang, ok],
    attempts: [['timeout', null], ['ok', 200]],
    cycle: 'succeeded',
    check: (_, a) => assert.match(a[0]!.error ?? '', /no complete answer within 300 ms/),
  },
  {
    name: 'a body that trickles in slowly',
    replies: [trickle, ok],
    attempts: [['timeout', 200], ['ok', 200]],
    cycle: 'succeeded',
    check: (_, a) => assert.ok(a[0]!.duration_ms! >= 290 && a[0]!.duration_ms! < 1000, `cut at the timeout: ${a[0]!.duration_ms} ms`),
  },
  { name: 'a connection reset mid-response', replies: [reset, ok], attempts: [['network_error', 200], ['ok', 200]], cycle: 'succeeded' },
  {
    name: 'a body that is not JSON',
    replies: [{ status: 200, body: '<html>Bad gateway</html>' }, ok],
    attempts: [['invalid_response', 200], ['ok', 200]],
    cycle: 'succeeded',
    check: (_, a) => assert.equal(a[0]!.response_excerpt, '<html>Bad gateway</html>'),
  },
  {
    name: 'a 50 MB body',
    replies: [fiftyMegabytes, ok],
    attempts: [['invalid_response', 200], ['ok', 200]],
    cycle: 'succeeded',
    check: (_, a) => {
      assert.match(a[0]!.error ?? '', /^too large: body exceeds 1048576 bytes$/);
      assert.ok(a[0]!.response_excerpt!.startsWith('{"success":true,"pad":"aaa'));
      assert.equal(Buffer.byteLength(a[0]!.response_excerpt!), 16 * 1024, 'the stored excerpt is capped at 16 KiB');
    },
  },
  {
    name: 'success: false',
    replies: [{ status: 200, body: { success: false, error: 'model not loaded' } }, ok],
    attempts: [['invalid_response', 200], ['ok', 200]],
    cycle: 'succeeded',
    check: (_, a) => assert.equal(a[0]!.error, 'success: false: model not loaded'),
  },
  {
    name: 'a redirect, not followed',
    replies: [{ status: 307, headers: { location: '/elsewhere' } }],
    attempts: [['rejected', 307]],
    cycle: ['failed', 'rejected'],
    check: (_, a) => assert.match(a[0]!.error ?? '', /redirect to \/elsewhere not followed/),
  },
  { name: 'then an ordinary answer', replies: [ok], attempts: [['ok', 200]], cycle: 'succeeded' },
];

/** The wait between the first attempt's end and the second's start, in the agent's time, was in [min, max] (+ slack). */
function assertWaited(a: AttemptRow[], min: number, max: number) {
  const waited = a[1]!.started_at - a[0]!.finished_at!;
  assert.ok(waited >= min && waited <= max + 100, `waited ${waited} ms, expected ${min}..${max}`);
}

test('every Diego fault, one per slot in one agent run: attempts and outcomes as sent, the right cycle status, the agent keeps running', async (t) => {
  const s = scene(t);
  const stub = await s.stub(CASES.flatMap((c) => c.replies));
  const dir = s.dir();
  // Memory is sampled from just before the 50 MB slot to just after it.
  const big = CASES.findIndex((c) => c.replies[0] === fiftyMegabytes);
  const memory = { before: process.memoryUsage(), peakRss: 0, peakBuffers: 0, peakHeap: 0 };
  let sampler: NodeJS.Timeout | undefined;
  const sample = () => {
    const m = process.memoryUsage();
    memory.peakRss = Math.max(memory.peakRss, m.rss);
    memory.peakBuffers = Math.max(memory.peakBuffers, m.arrayBuffers);
    memory.peakHeap = Math.max(memory.peakHeap, m.heapUsed);
  };
  const hooks = {
    [big]: () => {
      memory.before = process.memoryUsage();
      sampler = setInterval(sample, 2);
    },
    [big + 1]: () => clearInterval(sampler),
  };
  const group = await s.agents({ path: join(dir, 'history.db'), env: { ...ENV, DIEGO_URL: stub.url }, gate: withHooks(CASES.length, hooks) });
  s.defer(() => clearInterval(sampler));
  const agent = group.agents[0]!;
  agentNow = agent.clock.now;
  assert.deepEqual(await group.exits, [0], 'the agent ran through every fault and stopped normally');

  const cycles = await cycleRows(agent.database.db);
  assert.deepEqual(cycles.map((c) => c.scheduled_at), CASES.map((_, k) => T0 + MINUTE * (k + 1)), 'every slot fired once, in order');
  let posts = 0;
  for (const [k, c] of CASES.entries()) {
    const cycle = cycles[k]!;
    const attempts = await attemptRows(agent.database.db, cycle.id);
    const sent = stub.received.slice(posts, posts + c.attempts.length);
    posts += c.attempts.length;
    assert.deepEqual(attempts.map((a) => [a.outcome, a.http_status]), c.attempts, `${c.name}: attempts`);
    assert.deepEqual(attempts.map((a) => a.request_id), sent.map((r) => r.headers['x-request-id']), `${c.name}: one row per POST Diego saw`);
    assert.ok(sent.every((r) => r.headers['idempotency-key'] === cycle.idempotency_key), `${c.name}: one Idempotency-Key per cycle`);
    assert.deepEqual([cycle.status, cycle.reason], c.cycle === 'succeeded' ? ['succeeded', null] : c.cycle, `${c.name}: cycle status`);
    assert.equal(cycle.attempts, c.attempts.length, `${c.name}: attempt count`);
    assert.ok(attempts.every((a) => a.finished_at !== null && a.duration_ms !== null), `${c.name}: every attempt closed`);
    c.check?.(cycle, attempts);
  }
  assert.equal(stub.received.length, posts, 'no POST beyond the script (none repeated, none followed a redirect)');
  assert.ok(stub.received.every((r) => r.path === '/analyze'));

  // Memory: the body read stops at MAX_RESPONSE_BYTES, so neither side ever held the 50 MB.
  assert.ok(huge.sent < 16 * 1024 * 1024, `the stub sent ${(huge.sent / 2 ** 20).toFixed(1)} MiB before the client hung up`);
  const MiB = (n: number) => n / 2 ** 20;
  const grew = { rss: MiB(memory.peakRss - memory.before.rss), buffers: MiB(memory.peakBuffers - memory.before.arrayBuffers), heap: MiB(memory.peakHeap - memory.before.heapUsed) };
  assert.ok(grew.buffers < 10 && grew.heap < 20 && grew.rss < 25, `memory grew ${JSON.stringify(grew)} MiB during the 50 MB answer (read whole, buffers alone would grow > 50)`);
});

test('MAX_RESPONSE_BYTES is configurable: a 4 KiB body over a 2 KiB limit is invalid_response, too large', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: { success: true, pad: 'x'.repeat(4096) } }, ok]);
  const group = await s.agents({ path: join(s.dir(), 'history.db'), env: { ...ENV, DIEGO_URL: stub.url, MAX_RESPONSE_BYTES: '2048' }, slots: 1 });
  assert.deepEqual(await group.exits, [0]);
  const attempts = await attemptRows(group.agents[0]!.database.db);
  assert.deepEqual(attempts.map((a) => [a.outcome, a.error]), [['invalid_response', 'too large: body exceeds 2048 bytes'], ['ok', null]]);
});

test('Diego down at start (readiness waits and logs), then down for three cycles mid-run, then back: every slot recorded, the agent keeps running', async (t) => {
  const s = scene(t);
  const port = await freePort();
  const dir = s.dir();
  let stub: DiegoStub | undefined;
  s.defer(() => stub?.close().catch(() => {}));
  const seen: DiegoStub['received'] = [];
  const up = async () => (stub = await startDiegoStub([ok], { port }));
  const down = async () => {
    seen.push(...stub!.received);
    await stub!.close();
  };
  const group = await s.agents({
    path: join(dir, 'history.db'),
    env: { ...ENV, DIEGO_URL: `http://127.0.0.1:${port}`, WAIT_FOR_READY: 'true', RETRY_ATTEMPTS: '2' },
    gate: withHooks(7, { 2: down, 5: up }),
  });
  const agent = group.agents[0]!;
  await until(() => agent.log.out.filter((l) => /Waiting for Diego at http:\/\/127\.0\.0\.1:\d+\/health \(ECONNREFUSED/.test(l)).length >= 3, 'three readiness waits');
  assert.equal(await cycleRows(agent.database.db).then((r) => r.length), 0, 'no cycle before Diego is ready');
  await up();
  assert.deepEqual(await group.exits, [0]);
  await down();

  assert.ok(agent.log.out.some((l) => /Diego is ready at/.test(l)));
  const cycles = await cycleRows(agent.database.db);
  assert.deepEqual(cycles.map((c) => [c.status, c.reason]), [
    ['succeeded', null], ['succeeded', null],
    ['failed', 'network_error'], ['failed', 'network_error'], ['failed', 'network_error'],
    ['succeeded', null], ['succeeded', null],
  ]);
  const attempts = await attemptRows(agent.database.db);
  const outage = attempts.filter((a) => a.outcome === 'network_error');
  assert.equal(outage.length, 6, 'two attempts in each of the three cycles');
  assert.ok(outage.every((a) => /ECONNREFUSED/.test(a.error ?? '')), 'the reason is recorded');
  assert.deepEqual(attempts.filter((a) => a.outcome === 'ok').map((a) => a.request_id), seen.map((r) => r.headers['x-request-id']), 'every POST that reached Diego is an ok attempt');
  assert.ok(agent.log.err.some((l) => /Scalping cycle #5 failed after 2 attempt\(s\): ECONNREFUSED/.test(l)), agent.log.err.join('\n'));
});
