import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { startSimulator, type SimulatorOptions, type SimulatorRequestRecord } from '../../src/diego/simulator.ts';
import { spawnCli } from '../helpers/cli-process.ts';
import { seededRandom } from '../helpers/seeded-random.ts';
import { within } from '../helpers/wait.ts';

async function withSim(opts: SimulatorOptions, fn: (url: string) => Promise<void>): Promise<void> {
  const sim = await startSimulator({ port: 0, ...opts });
  try {
    await fn(sim.url);
  } finally {
    await sim.close();
  }
}

function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}/analyze`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

// The project compiles without DOM lib, where Response.json() is unknown; this is the shape the tests read.
interface Reply {
  success: boolean;
  error: string;
  symbol: string;
  timeframe: string;
  timestamp: string;
  analysis: { price: number; signal: string; confidence: number; indicators: Record<string, unknown> };
  execution: { orderId?: string; side?: string; placed: boolean };
}
const json = async (res: Response): Promise<Reply> => (await res.json()) as Reply;

const valid = { symbol: 'BTC/USDT', timeframe: '1h', triggerExecution: true };

test('GET /health answers ok', async () => {
  await withSim({}, async (url) => {
    const res = await fetch(`${url}/health`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    assert.deepEqual(await json(res), { status: 'ok', service: 'diego-simulator' });
  });
});

test('POST /analyze returns a plausible analysis', async () => {
  await withSim({ random: seededRandom(42) /* seeded so a failure reproduces; no test depends on its values */ }, async (url) => {
    const res = await post(url, { ...valid, triggerExecution: false });
    assert.equal(res.status, 200);
    const body = await json(res);
    assert.equal(body.success, true);
    assert.equal(body.symbol, 'BTC/USDT');
    assert.equal(body.timeframe, '1h');
    assert.ok(Math.abs(body.analysis.price - 97000) < 97000 * 0.05, `price ${body.analysis.price}`);
    assert.ok(['BUY', 'SELL', 'HOLD'].includes(body.analysis.signal));
    const c = body.analysis.confidence;
    assert.ok(c >= 0 && c <= 1 && Number(c.toFixed(2)) === c, `confidence ${c}`);
    for (const k of ['rsi', 'ema20', 'ema50']) assert.equal(typeof body.analysis.indicators[k], 'number', k);
    assert.equal(new Date(body.timestamp).toISOString(), body.timestamp);
    assert.equal('execution' in body, false, 'no execution without triggerExecution');
  });
});

test('execution: BUY places a buy order, SELL a sell order', async () => {
  await withSim({ random: () => 0.1 }, async (url) => {
    const body = await json(await post(url, valid));
    assert.equal(body.analysis.signal, 'BUY');
    assert.deepEqual(body.execution, {
      orderId: 'sim-1', side: 'buy', quantity: 0.001, price: body.analysis.price, status: 'filled', placed: true,
    });
    const second = await json(await post(url, valid));
    assert.equal(second.execution.orderId, 'sim-2', 'order ids increase per placed order');
  });
  await withSim({ random: () => 0.9 }, async (url) => {
    const body = await json(await post(url, valid));
    assert.equal(body.analysis.signal, 'SELL');
    assert.equal(body.execution.side, 'sell');
    assert.equal(body.execution.placed, true);
  });
});

test('execution: HOLD places nothing; no triggerExecution means no execution at all', async () => {
  await withSim({ random: () => 0.5 }, async (url) => {
    const body = await json(await post(url, valid));
    assert.equal(body.analysis.signal, 'HOLD');
    assert.deepEqual(body.execution, { placed: false, reason: 'signal HOLD' });
  });
  await withSim({ random: () => 0.1 }, async (url) => {
    const body = await json(await post(url, { ...valid, triggerExecution: false }));
    assert.equal(body.analysis.signal, 'BUY');
    assert.equal('execution' in body, false);
  });
});

test('bad bodies get 400 naming the problem', async () => {
  const cases: Array<[string, string, RegExp, Record<string, string>?]> = [
    ['wrong content-type', JSON.stringify(valid), /content-type/, { 'content-type': 'text/plain' }],
    ['invalid JSON', '{"symbol":', /valid JSON/],
    ['array', '[]', /JSON object/],
    ['null', 'null', /JSON object/],
    ['missing symbol', JSON.stringify({ ...valid, symbol: undefined }), /symbol/],
    ['empty symbol', JSON.stringify({ ...valid, symbol: '' }), /symbol/],
    ['lowercase symbol', JSON.stringify({ ...valid, symbol: 'btc/usdt' }), /symbol/],
    ['symbol without quote', JSON.stringify({ ...valid, symbol: 'BTCUSDT' }), /symbol/],
    ['unknown timeframe', JSON.stringify({ ...valid, timeframe: '2h' }), /timeframe/],
    ['missing timeframe', JSON.stringify({ ...valid, timeframe: undefined }), /timeframe/],
    ['string triggerExecution', JSON.stringify({ ...valid, triggerExecution: 'true' }), /triggerExecution/],
    ['missing triggerExecution', JSON.stringify({ ...valid, triggerExecution: undefined }), /triggerExecution/],
  ];
  await withSim({}, async (url) => {
    for (const [name, body, expected, headers] of cases) {
      const res = await post(url, body, headers);
      assert.equal(res.status, 400, name);
      const reply = await json(res);
      assert.equal(reply.success, false, name);
      assert.match(reply.error, expected, name);
    }
  });
});

test('bodies over 64 KiB get 413', async () => {
  await withSim({}, async (url) => {
    const res = await post(url, JSON.stringify({ ...valid, pad: 'x'.repeat(64 * 1024) }));
    assert.equal(res.status, 413);
    assert.equal((await json(res)).success, false);
  });
});

test('unknown path is 404, wrong method is 405', async () => {
  await withSim({}, async (url) => {
    const missing = await fetch(`${url}/nope`);
    assert.equal(missing.status, 404);
    assert.equal((await json(missing)).success, false);
    const getAnalyze = await fetch(`${url}/analyze`);
    assert.equal(getAnalyze.status, 405);
    assert.equal(getAnalyze.headers.get('allow'), 'POST');
    await getAnalyze.body?.cancel();
    const postHealth = await fetch(`${url}/health`, { method: 'POST' });
    assert.equal(postHealth.status, 405);
    assert.equal(postHealth.headers.get('allow'), 'GET');
    await postHealth.body?.cancel();
  });
});

test('failRate 1 answers 503 and onRequest sees it', async () => {
  const seen: SimulatorRequestRecord[] = [];
  const sim = await startSimulator({ port: 0, failRate: 1, onRequest: (r) => seen.push(r) });
  try {
    const res = await post(sim.url, valid, { 'idempotency-key': 'k1' });
    assert.equal(res.status, 503);
    assert.deepEqual(await json(res), { success: false, error: 'simulated failure' });
    assert.equal(sim.requests, 1);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.status, 503);
    assert.equal(seen[0]!.method, 'POST');
    assert.equal(seen[0]!.path, '/analyze');
    assert.deepEqual(seen[0]!.body, valid);
    assert.equal(seen[0]!.headers['idempotency-key'], 'k1');
  } finally {
    await sim.close();
  }
});

test('Idempotency-Key replays the stored 200, even for a retry that overlaps the first attempt', async () => {
  await withSim({ random: () => 0.1, latencyMs: 30 }, async (url) => {
    const first = await (await post(url, valid, { 'idempotency-key': 'a' })).text();
    const replay = await (await post(url, valid, { 'idempotency-key': 'a' })).text();
    assert.equal(replay, first);
    assert.equal(JSON.parse(first).execution.orderId, 'sim-1');

    const [x, y] = await Promise.all([
      post(url, valid, { 'idempotency-key': 'b' }).then((r) => r.text()),
      post(url, valid, { 'idempotency-key': 'b' }).then((r) => r.text()),
    ]);
    assert.equal(x, y);
    assert.equal(JSON.parse(x).execution.orderId, 'sim-2', 'overlapping retry must not place a second order');

    const fresh = await json(await post(url, valid, { 'idempotency-key': 'c' }));
    assert.equal(fresh.execution.orderId, 'sim-3', 'a new key is a new request');
  });
});

test('latencyMs delays /analyze', async () => {
  await withSim({ latencyMs: 50 }, async (url) => {
    const start = performance.now();
    const res = await post(url, valid);
    const elapsed = performance.now() - start;
    assert.equal(res.status, 200);
    await res.body?.cancel();
    assert.ok(elapsed >= 40, `took ${elapsed.toFixed(1)} ms`);
  });
});

test('close() resolves promptly with a keep-alive socket and a request still sleeping', async () => {
  const sim = await startSimulator({ port: 0, latencyMs: 10_000 });
  const idle = await fetch(`${sim.url}/health`); // undici keeps this connection alive afterwards
  await json(idle);
  const pending = post(sim.url, valid);
  await new Promise((r) => setTimeout(r, 20)); // let the request reach the latency timer
  const start = performance.now();
  await sim.close();
  assert.ok(performance.now() - start < 500, 'close() waited for open connections');
  await assert.rejects(pending, 'the sleeping request is cut off, not answered');
});

test('simulator CLI: a host that is not an address of this machine exits 2, a port in use exits 1, each with one line and no stack', async () => {
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
  const port = (busy.address() as AddressInfo).port;
  const runs = [
    { args: ['--host', '999.1.1.1'], code: 2, line: /^pmf-scheduler: Invalid --host "999\.1\.1\.1": expected an address of this machine such as 127\.0\.0\.1, 0\.0\.0\.0 or ::1 \(.*\)$/ },
    { args: ['--host', '192.0.2.1', '--port', '0'], code: 2, line: /^pmf-scheduler: Invalid --host "192\.0\.2\.1": expected an address of this machine .*EADDRNOTAVAIL/ },
    { args: ['--port', String(port)], code: 1, line: new RegExp(`^pmf-scheduler: Cannot listen on 127\\.0\\.0\\.1:${port}: the port is in use; choose another with --port \\(.*EADDRINUSE.*\\)$`) },
  ].map((r) => ({ ...r, p: spawnCli(['simulator', ...r.args], {}) }));
  try {
    for (const r of runs) {
      const done = await within(r.p.exited, 10_000, `simulator ${r.args.join(' ')} to exit`);
      assert.equal(done.code, r.code, r.p.stderr.join('\n'));
      assert.equal(r.p.stderr.filter(Boolean).length, 1, r.p.stderr.join('\n'));
      assert.match(r.p.stderr[0]!, r.line);
      assert.deepEqual(r.p.stdout.filter(Boolean), []);
    }
  } finally {
    for (const r of runs) r.p.kill('SIGKILL');
    await new Promise((resolve) => busy.close(resolve));
  }
});
