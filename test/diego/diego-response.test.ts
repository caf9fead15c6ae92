import { test } from 'node:test';
import assert from 'node:assert/strict';
import { briefOf, executionPlaced, interpretResponse, summarizeBody } from '../../src/diego/response.ts';

const LIMIT = 1_048_576;
const json = (v: unknown) => JSON.stringify(v);

const placed = {
  success: true,
  analysis: { signal: 'BUY', confidence: 0.82, price: 97012.5, indicators: { rsi: 31 } },
  execution: { placed: true, orderId: 'sim-3', side: 'buy', quantity: 0.001, price: 97013 },
};

test('a 2xx JSON object whose success is not false is ok, with a summary and the execution flag', () => {
  assert.deepEqual(interpretResponse(200, json(placed), LIMIT), {
    outcome: 'ok',
    summary: '{ success: true, signal: BUY, confidence: 0.82, price: 97012.5, execution: placed sim-3 buy 0.001 @ 97013 }',
    brief: 'BUY 0.82 @ 97012.5 · placed sim-3 buy 0.001 @ 97013',
    executed: true,
  });
  assert.deepEqual(interpretResponse(201, json({ signal: 'HOLD' }), LIMIT), { outcome: 'ok', summary: '{ success: ?, signal: HOLD }', brief: 'success ? · HOLD', executed: false });
  assert.equal(interpretResponse(299, json({ success: null }), LIMIT).outcome, 'ok');
});

test('success: false is an invalid response carrying Diego\'s error text', () => {
  assert.deepEqual(interpretResponse(200, json({ success: false, error: 'exchange unavailable' }), LIMIT), {
    outcome: 'invalid_response',
    error: 'success: false: exchange unavailable',
    summary: '{ success: false, error: exchange unavailable }',
    brief: 'success false · error: exchange unavailable',
    executed: false,
  });
  assert.equal(interpretResponse(200, json({ success: false }), LIMIT).error, 'success: false');
  assert.equal(interpretResponse(200, json({ success: false, error: { message: 'nested' } }), LIMIT).error, 'success: false: nested');
});

test('a 2xx body that is not a JSON object is an invalid response', async (t) => {
  for (const body of ['<html>oops</html>', '', 'null', '42', '"text"', 'true', '[]', '[{"success":true}]', '{"success":tru']) {
    await t.test(JSON.stringify(body), () => {
      assert.deepEqual(interpretResponse(200, body, LIMIT), { outcome: 'invalid_response', error: 'body is not a JSON object', executed: false });
    });
  }
});

test('a 2xx body over the size limit is an invalid response, "too large"', () => {
  assert.deepEqual(interpretResponse(200, undefined, 2048), { outcome: 'invalid_response', error: 'too large: body exceeds 2048 bytes', executed: false });
});

test('408, 425, 429 and 5xx are retryable HTTP errors; the error shows Diego\'s message or the start of the body', () => {
  for (const status of [408, 425, 429, 500, 502, 503, 504]) {
    assert.deepEqual(interpretResponse(status, '', LIMIT), { outcome: 'http_error', error: `HTTP ${status}`, executed: false }, String(status));
  }
  assert.equal(interpretResponse(503, json({ error: 'maintenance' }), LIMIT).error, 'HTTP 503: maintenance');
  assert.equal(interpretResponse(500, json({ message: 'boom' }), LIMIT).error, 'HTTP 500: boom');
  assert.equal(interpretResponse(502, '  Bad gateway from nginx \n', LIMIT).error, 'HTTP 502: Bad gateway from nginx');
  assert.equal(interpretResponse(500, 'x'.repeat(1000), LIMIT).error, `HTTP 500: ${'x'.repeat(200)}`);
  assert.equal(interpretResponse(503, undefined, LIMIT).error, 'HTTP 503', 'an oversized error body is not quoted');
});

test('other 4xx are rejected (not retried)', () => {
  for (const status of [400, 401, 403, 404, 409, 422]) {
    assert.equal(interpretResponse(status, json({ error: 'bad symbol' }), LIMIT).outcome, 'rejected', String(status));
  }
  assert.deepEqual(interpretResponse(422, json({ error: { message: 'timeframe invalid' } }), LIMIT), { outcome: 'rejected', error: 'HTTP 422: timeframe invalid', executed: false });
});

test('a redirect is rejected and not followed, naming where it pointed', () => {
  assert.deepEqual(interpretResponse(302, '', LIMIT, 'http://elsewhere/analyze'), { outcome: 'rejected', error: 'HTTP 302: redirect to http://elsewhere/analyze not followed', executed: false });
  assert.deepEqual(interpretResponse(307, '', LIMIT, null), { outcome: 'rejected', error: 'HTTP 307: redirect not followed', executed: false });
});

test('informational statuses are rejected', () => {
  assert.equal(interpretResponse(101, '', LIMIT).outcome, 'rejected');
});

test('executionPlaced: an explicit placed flag wins, else an order id means placed', () => {
  assert.equal(executionPlaced({ execution: { placed: true } }), true);
  assert.equal(executionPlaced({ execution: { placed: false, orderId: 'x' } }), false);
  assert.equal(executionPlaced({ execution: { orderId: 'o-9' } }), true);
  assert.equal(executionPlaced({ execution: { orderId: null } }), false);
  assert.equal(executionPlaced({ execution: {} }), false);
  assert.equal(executionPlaced({ execution: [{ placed: true }] }), false);
  assert.equal(executionPlaced({ success: true }), false);
  assert.equal(executionPlaced(null), false);
  assert.equal(executionPlaced('placed'), false);
});

test('summarizeBody: one compact line with the signal and execution fields when present', () => {
  assert.equal(summarizeBody({ success: true, signal: 'SELL', price: 3100 }), '{ success: true, signal: SELL, price: 3100 }');
  assert.equal(
    summarizeBody({ success: true, analysis: { signal: 'HOLD', confidence: 0.4 }, execution: { placed: false, reason: 'signal HOLD' } }),
    '{ success: true, signal: HOLD, confidence: 0.4, execution: none signal HOLD }',
  );
  assert.equal(summarizeBody({ success: true, execution: { orderId: 'o-1' } }), '{ success: true, execution: placed o-1 }');
  assert.equal(summarizeBody({ success: true, analysis: { signal: { nested: 1 }, price: [1] } }), '{ success: true }', 'non-scalar fields are left out');
  assert.equal(summarizeBody({}), '{ success: ? }');
  assert.equal(summarizeBody([1, 2]), '{ success: ? }');
  assert.equal(summarizeBody(null), '{ success: ? }');
  const big = summarizeBody({ success: true, analysis: { ...placed.analysis, indicators: Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, i])) } });
  assert.ok(!big.includes('\n') && big.length < 200, big);
});

test("briefOf: the history's few words, signal, confidence, price and order; an order's price only when it differs", () => {
  assert.equal(briefOf(placed), 'BUY 0.82 @ 97012.5 · placed sim-3 buy 0.001 @ 97013');
  assert.equal(briefOf({ ...placed, execution: { ...placed.execution, price: 97012.5 } }), 'BUY 0.82 @ 97012.5 · placed sim-3 buy 0.001', 'filled at the analysis price');
  assert.equal(briefOf({ success: true, analysis: { signal: 'HOLD', confidence: 0.4 }, execution: { placed: false, reason: 'signal HOLD' } }), 'HOLD 0.4 · none signal HOLD');
  assert.equal(briefOf({ success: true, signal: 'SELL', price: 3100 }), 'SELL @ 3100');
  assert.equal(briefOf({ success: false, error: { message: 'no data' } }), 'success false · error: no data');
  assert.equal(briefOf({ success: true }), '', 'nothing to say');
  // The stored brief is far shorter than the log's line for the same answer.
  assert.ok(briefOf(placed).length * 2 < summarizeBody(placed).length + 20);
});
