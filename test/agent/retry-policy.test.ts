import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isRetryable, nextStep, retryDelay, retryRoom, type AttemptVerdict, type RetryPolicy } from '../../src/agent/retry-policy.ts';
import { pattern } from '../helpers/cron.ts';
import { parseRetryAfter, type AttemptOutcome } from '../../src/records.ts';

const policy: RetryPolicy = { attempts: 3, delayMs: 5000 };
const NOW = Date.parse('2024-01-20T10:00:00.000Z');
const FAR = NOW + 3_600_000;

test('isRetryable: transient outcomes yes; success, rejection and abort no', () => {
  const cases: [AttemptOutcome, boolean][] = [
    ['ok', false],
    ['rejected', false],
    ['aborted', false],
    ['timeout', true],
    ['network_error', true],
    ['invalid_response', true],
  ];
  for (const [outcome, retryable] of cases) assert.equal(isRetryable({ outcome }), retryable, outcome);
});

test('isRetryable for HTTP statuses: 408, 425, 429 and 5xx yes; other 4xx and 3xx no', () => {
  const retryable = [408, 425, 429, 500, 501, 502, 503, 504, 507, 599];
  const notRetryable = [300, 301, 302, 304, 307, 308, 400, 401, 403, 404, 405, 409, 410, 413, 415, 422, 426, 428, 431, 451, 499];
  for (const status of retryable) assert.equal(isRetryable({ outcome: 'http_error', status }), true, String(status));
  for (const status of notRetryable) assert.equal(isRetryable({ outcome: 'http_error', status }), false, String(status));
});

test('retryDelay is RETRY_DELAY_MS without a Retry-After', () => {
  for (const status of [undefined, 429, 500, 503]) assert.equal(retryDelay({ outcome: 'http_error', status }, policy), 5000);
  assert.equal(retryDelay({ outcome: 'timeout' }, policy), 5000);
});

test('Retry-After is honoured on 429 and 503 only, only when longer, and capped at 60 s', () => {
  const v = (status: number, retryAfterMs: number): AttemptVerdict => ({ outcome: 'http_error', status, retryAfterMs });
  assert.equal(retryDelay(v(429, 12_000), policy), 12_000);
  assert.equal(retryDelay(v(503, 12_000), policy), 12_000);
  assert.equal(retryDelay(v(503, 1_000), policy), 5000, 'shorter than RETRY_DELAY_MS: ignored');
  assert.equal(retryDelay(v(429, 0), policy), 5000);
  assert.equal(retryDelay(v(429, 60_000), policy), 60_000);
  assert.equal(retryDelay(v(429, 3_600_000), policy), 60_000, 'capped');
  assert.equal(retryDelay(v(503, 90_000), { attempts: 3, delayMs: 70_000 }), 70_000, 'the cap never shortens RETRY_DELAY_MS');
  for (const status of [500, 502, 504, 408, 425]) assert.equal(retryDelay(v(status, 30_000), policy), 5000, `${status} ignores Retry-After`);
});

test('parseRetryAfter reads delta-seconds and HTTP-dates', () => {
  assert.equal(parseRetryAfter('120', NOW), 120_000);
  assert.equal(parseRetryAfter(' 7 ', NOW), 7_000);
  assert.equal(parseRetryAfter('0', NOW), 0);
  assert.equal(parseRetryAfter(new Date(NOW + 30_000).toUTCString(), NOW), 30_000);
  assert.equal(parseRetryAfter('Sat, 20 Jan 2024 10:00:45 GMT', NOW), 45_000);
  assert.equal(parseRetryAfter('Sat, 20 Jan 2024 09:59:00 GMT', NOW), 0, 'a date in the past means now');
  assert.equal(parseRetryAfter(undefined, NOW), undefined);
  assert.equal(parseRetryAfter(null, NOW), undefined);
  assert.equal(parseRetryAfter('', NOW), undefined);
  assert.equal(parseRetryAfter('soon', NOW), undefined);
});

test('a parsed Retry-After flows into the delay: seconds and HTTP-date forms alike', () => {
  const seconds = parseRetryAfter('20', NOW);
  const date = parseRetryAfter('Sat, 20 Jan 2024 10:00:20 GMT', NOW);
  assert.equal(retryDelay({ outcome: 'http_error', status: 429, retryAfterMs: seconds }, policy), 20_000);
  assert.equal(retryDelay({ outcome: 'http_error', status: 503, retryAfterMs: date }, policy), 20_000);
});

test('nextStep: success is done, an abort stops, a non-retryable failure stops at once', () => {
  assert.deepEqual(nextStep({ outcome: 'ok', status: 200 }, 1, NOW, FAR, policy), { kind: 'done' });
  assert.deepEqual(nextStep({ outcome: 'aborted' }, 1, NOW, FAR, policy), { kind: 'stop', reason: 'aborted' });
  for (const v of [{ outcome: 'rejected', status: 400 }, { outcome: 'http_error', status: 404 }, { outcome: 'rejected', status: 302 }] as AttemptVerdict[]) {
    assert.deepEqual(nextStep(v, 1, NOW, FAR, policy), { kind: 'stop', reason: 'not_retryable' }, JSON.stringify(v));
  }
});

test('nextStep retries until RETRY_ATTEMPTS attempts in all, then stops exhausted', () => {
  const fail: AttemptVerdict = { outcome: 'http_error', status: 503 };
  assert.deepEqual(nextStep(fail, 1, NOW, FAR, policy), { kind: 'retry', delayMs: 5000 });
  assert.deepEqual(nextStep(fail, 2, NOW, FAR, policy), { kind: 'retry', delayMs: 5000 });
  assert.deepEqual(nextStep(fail, 3, NOW, FAR, policy), { kind: 'stop', reason: 'exhausted' });
  assert.deepEqual(nextStep(fail, 1, NOW, FAR, { attempts: 1, delayMs: 5000 }), { kind: 'stop', reason: 'exhausted' });
  assert.deepEqual(nextStep({ outcome: 'timeout' }, 2, NOW, FAR, policy), { kind: 'retry', delayMs: 5000 });
  assert.deepEqual(nextStep({ outcome: 'http_error', status: 429, retryAfterMs: 9000 }, 1, NOW, FAR, policy), { kind: 'retry', delayMs: 9000 });
});

test('nextStep stops at the deadline: no attempt may start at or after it', () => {
  const fail: AttemptVerdict = { outcome: 'network_error' };
  assert.deepEqual(nextStep(fail, 1, NOW, NOW + 5001, policy), { kind: 'retry', delayMs: 5000 });
  assert.deepEqual(nextStep(fail, 1, NOW, NOW + 5000, policy), { kind: 'stop', reason: 'no_time_for_retry' });
  assert.deepEqual(nextStep(fail, 1, NOW, NOW + 100, policy), { kind: 'stop', reason: 'no_time_for_retry' });
  // A Retry-After that pushes the next attempt past the deadline stops too.
  assert.deepEqual(nextStep({ outcome: 'http_error', status: 503, retryAfterMs: 30_000 }, 1, NOW, NOW + 20_000, policy), { kind: 'stop', reason: 'no_time_for_retry' });
  // Exhausted is reported before the deadline when both apply.
  assert.deepEqual(nextStep(fail, 3, NOW, NOW + 100, policy), { kind: 'stop', reason: 'exhausted' });
});

test('retryRoom: a delay that reaches the shortest gap between slots leaves no time for a retry; a shorter one, or one attempt, says nothing', () => {
  const now = Date.UTC(2026, 0, 1, 0, 0, 0, 500);
  assert.equal(
    retryRoom(pattern('*/5 * * * * *'), now, { attempts: 3, delayMs: 5000 }),
    'RETRY_DELAY_MS=5000 leaves no time for a retry: slots can be 5000 ms apart, and no attempt starts at or after the next slot, so a failed attempt there is never retried (RETRY_ATTEMPTS=3); set RETRY_DELAY_MS below 5000 to retry',
  );
  assert.equal(retryRoom(pattern('*/5 * * * * *'), now, { attempts: 3, delayMs: 4999 }), undefined);
  assert.equal(retryRoom(pattern('*/5 * * * * *'), now, { attempts: 1, delayMs: 5000 }), undefined, 'no retry is asked for');
  assert.equal(retryRoom(pattern('0 * * * * *'), now, { attempts: 3, delayMs: 5000 }), undefined);
  // Uneven gaps: the shortest counts (0 and 2 s past each minute: 2 s, then 58 s).
  assert.match(retryRoom(pattern('0,2 * * * * *'), now, { attempts: 3, delayMs: 3000 })!, /slots can be 2000 ms apart/);
});
