import assert from 'node:assert/strict';
import test from 'node:test';
import { NOTIFICATION_SCHEMA, noticeOf, readNotice } from '../../src/notify/event.ts';
import { pingOf } from '../../src/notify/healthchecks.ts';
import { judgeTelegram, telegramMessage } from '../../src/notify/telegram.ts';
import { webhookBody } from '../../src/notify/webhook.ts';
import { VERSION } from '../../src/version.ts';

// The channel-neutral notice and each channel's rendering of it (pure).

const AT = Date.UTC(2026, 11, 6, 12, 0, 0);
const ID = '0b7d2d3c-1111-4222-8333-444455556666';

test('a notice holds no channel text; the webhook renders the v1 body with a Slack shortcode, Telegram an emoji, Healthchecks a ping', () => {
  const n = noticeOf('failing', 'BTC/USDT failing: 3 cycles in a row failed (cycle #7)', AT, 'sched-a', { symbol: 'BTC/USDT', lastError: 'HTTP 503:\u001b[2J down' }, ID);
  assert.deepEqual(n, {
    schema: NOTIFICATION_SCHEMA,
    id: ID,
    event: 'failing',
    severity: 'critical',
    headline: 'BTC/USDT failing: 3 cycles in a row failed (cycle #7)',
    time: '2026-12-06T12:00:00.000Z',
    replica: 'sched-a',
    version: VERSION,
    symbol: 'BTC/USDT',
    lastError: 'HTTP 503:\\u001b[2J down',
  });
  assert.ok(!JSON.stringify(n).includes(':red_circle:'), 'no Slack shortcode stored');
  const body = webhookBody(n);
  assert.equal(body.text, ':red_circle: pmf-scheduler sched-a: BTC/USDT failing: 3 cycles in a row failed (cycle #7) (last error: HTTP 503:\\u001b[2J down)');
  assert.equal(body.id, ID);
  assert.deepEqual(telegramMessage('-100', n), { chat_id: '-100', text: '🔴 pmf-scheduler sched-a: BTC/USDT failing: 3 cycles in a row failed (cycle #7) (last error: HTTP 503:\\u001b[2J down)' });
  assert.deepEqual(pingOf(n), { suffix: '/log', text: n.headline });
  assert.deepEqual(pingOf(noticeOf('cycle_started', '', AT, 'a')), { suffix: '/start', text: '' });
  assert.deepEqual(pingOf(noticeOf('cycle_ended', 'failed (http_error)', AT, 'a', { details: { ok: false } })), { suffix: '/fail', text: 'failed (http_error)' });
  assert.deepEqual(pingOf(noticeOf('cycle_ended', 'succeeded', AT, 'a', { details: { ok: true } })), { suffix: '', text: 'succeeded' });
});

test('a row written before notices were channel-neutral (the v1 webhook body) is read back as a notice: same headline, the row names it', () => {
  const old = { schema: NOTIFICATION_SCHEMA, event: 'failing', severity: 'critical', text: ':red_circle: pmf-scheduler sched-a: BTC/USDT failing (last error: boom)', time: '2026-12-06T12:00:00.000Z', replica: 'sched-a', version: '0.9.0', lastError: 'boom' };
  const n = readNotice(JSON.stringify(old), 'outbox-12');
  assert.equal(n.headline, 'BTC/USDT failing');
  assert.equal(n.id, 'outbox-12');
  assert.equal(webhookBody(n).text, old.text, 'a webhook gets the text it would have got');
  assert.equal(readNotice(JSON.stringify(noticeOf('started', 'started', AT, 'a', {}, ID)), 'outbox-13').id, ID);
});

test("judgeTelegram reads the Bot API's answers: ok, 429 with retry_after, 400/401/403 given up, 5xx and a proxy's page by status", () => {
  assert.deepEqual(judgeTelegram(200, '{"ok":true,"result":{"message_id":1}}'), { ok: true, status: 200 });
  assert.deepEqual(judgeTelegram(429, '{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7","parameters":{"retry_after":7}}'), {
    ok: false,
    retryable: true,
    status: 429,
    error: 'Telegram 429: Too Many Requests: retry after 7',
    retryAfterMs: 7000,
  });
  assert.deepEqual(judgeTelegram(400, '{"ok":false,"error_code":400,"description":"Bad Request: chat not found"}'), { ok: false, retryable: false, status: 400, error: 'Telegram 400: Bad Request: chat not found' });
  assert.equal((judgeTelegram(401, '{"ok":false,"error_code":401,"description":"Unauthorized"}') as { retryable: boolean }).retryable, false);
  assert.equal((judgeTelegram(403, '{"ok":false,"error_code":403,"description":"Forbidden: bot was kicked"}') as { retryable: boolean }).retryable, false);
  assert.equal((judgeTelegram(502, '<html>Bad Gateway</html>') as { retryable: boolean }).retryable, true);
  assert.equal((judgeTelegram(200, '<html>captive portal</html>') as { retryable: boolean }).retryable, false, 'a 200 that is not the Bot API is no delivery');
});
