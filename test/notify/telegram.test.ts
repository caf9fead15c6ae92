import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import test, { type TestContext } from 'node:test';
import { startDelivery } from '../../src/notify/deliver.ts';
import { noticeOf } from '../../src/notify/event.ts';
import { telegramChannel } from '../../src/notify/telegram.ts';
import { createRedactor, redactUrl } from '../../src/log/redact.ts';
import { enqueue } from '../../src/store/outbox/outbox.ts';
import { openDatabase } from '../../src/store/open.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { everySecondAgent, runCli } from '../helpers/cli-process.ts';
import { fastClock } from '../helpers/fast-clock.ts';
import { scene } from '../helpers/scene.ts';
import { tempDatabase } from '../helpers/temp-db.ts';
import { until } from '../helpers/wait.ts';

// The Telegram channel against a fake of the Bot API on 127.0.0.1 that answers as the real one does
// (https://core.telegram.org/bots/api#making-requests): `{ ok: true, result }`, or `{ ok: false, error_code,
// description, parameters?: { retry_after } }` with the same HTTP status.

const TOKEN = '123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw';
const CHAT = '-1001234567890';
const T = Date.UTC(2026, 11, 6, 12, 0, 0);

interface BotRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: { chat_id?: string; text?: string };
  at: number;
}
type BotAnswer = { status: number; body: unknown } | { status: number; text: string };

const ok = (): BotAnswer => ({ status: 200, body: { ok: true, result: { message_id: 42, chat: { id: Number(CHAT), type: 'supergroup' }, date: 1, text: 'x' } } });
const tooMany = (seconds: number): BotAnswer => ({ status: 429, body: { ok: false, error_code: 429, description: `Too Many Requests: retry after ${seconds}`, parameters: { retry_after: seconds } } });
const chatNotFound = (): BotAnswer => ({ status: 400, body: { ok: false, error_code: 400, description: 'Bad Request: chat not found' } });

/** The fake Bot API: records each request, answers what `answer` says for the n-th (1-based). */
async function fakeBotApi(t: TestContext, answer: (r: BotRequest, n: number) => BotAnswer) {
  const requests: BotRequest[] = [];
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString('utf8')));
    req.on('end', () => {
      let body = {};
      try {
        body = JSON.parse(text) as object;
      } catch {
        // not JSON: the test's assertions on the body will say so
      }
      const r: BotRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, at: Date.now() };
      requests.push(r);
      const a = answer(r, requests.length);
      if ('text' in a) res.writeHead(a.status, { 'content-type': 'text/html' }).end(a.text);
      else res.writeHead(a.status, { 'content-type': 'application/json' }).end(JSON.stringify(a.body));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

test('sendMessage: a POST to /bot<token>/sendMessage with JSON { chat_id, text }; a 429 holds the channel for its retry_after, then the message goes once', async (t) => {
  const api = await fakeBotApi(t, (_r, n) => (n === 1 ? tooMany(30) : ok()));
  const db = await tempDatabase();
  t.after(() => db.cleanup());
  const channel = telegramChannel({ token: TOKEN, chatId: CHAT, apiUrl: api.url });
  const clock = fastClock(T, { frozen: true });
  const log = captureLog();
  const notice = noticeOf('failing', 'BTC/USDT failing: 3 cycles in a row failed (cycle #7)', T, 'sched-a', { lastError: 'HTTP 503: exchange down' });
  await enqueue(db.db, { event: 'failing', severity: 'critical', payload: JSON.stringify(notice), createdAt: T }, [channel.key]);
  const loop = startDelivery({ db: db.db, owner: 'sched-a', channels: [channel], clock, log, redact: createRedactor([TOKEN]) });
  t.after(() => loop.stop(100));
  await until(async () => (await db.db.selectFrom('notifications').select('state').executeTakeFirst())?.state === 'sent', 'the message to be sent after the wait', 15_000);
  assert.equal(api.requests.length, 2, 'the 429, then one message');
  for (const r of api.requests) {
    assert.equal(r.method, 'POST');
    assert.equal(r.path, `/bot${TOKEN}/sendMessage`);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    assert.deepEqual(r.body, { chat_id: CHAT, text: '🔴 pmf-scheduler sched-a: BTC/USDT failing: 3 cycles in a row failed (cycle #7) (last error: HTTP 503: exchange down)' });
  }
  const row = await db.db.selectFrom('notifications').selectAll().executeTakeFirstOrThrow();
  // Tried at T (the 429), then not before T + 30 s (the backoff alone would have said T + 2 s).
  assert.ok(row.sent_at! >= T + 30_000 && row.sent_at! < T + 35_000, `sent ${row.sent_at! - T} ms after the 429`);
  assert.equal(row.attempts, 2);
  assert.ok(log.all().some((l) => l.includes('Telegram 429: Too Many Requests: retry after 30')), log.all().join('\n'));
  assert.ok(!log.all().join('\n').includes(TOKEN.split(':')[1]!), 'no token in the log');
});

test('a chat that does not exist (400) is given up at the first try, said once, never retried; the next notification is tried (and given up) on its own', async (t) => {
  const api = await fakeBotApi(t, () => chatNotFound());
  const db = await tempDatabase();
  t.after(() => db.cleanup());
  const channel = telegramChannel({ token: TOKEN, chatId: '@no_such_chat', apiUrl: api.url });
  const clock = fastClock(T, { frozen: true });
  const log = captureLog();
  for (const event of ['started', 'failing'] as const) {
    await enqueue(db.db, { event, severity: 'info', payload: JSON.stringify(noticeOf(event, event, T, 'sched-a')), createdAt: T }, [channel.key]);
  }
  const loop = startDelivery({ db: db.db, owner: 'sched-a', channels: [channel], clock, log, redact: createRedactor([TOKEN]) });
  t.after(() => loop.stop(100));
  await until(async () => (await db.db.selectFrom('notifications').select('id').where('state', '=', 'gave_up').execute()).length === 2, 'both given up', 10_000);
  // Many polls later (the frozen clock moves a second per poll) nothing more was sent.
  const polledFrom = clock.now();
  await until(() => clock.now() >= polledFrom + 30_000, 'thirty polls', 15_000);
  assert.equal(api.requests.length, 2, 'one try per notification');
  const rows = await db.db.selectFrom('notifications').select(['state', 'attempts', 'last_error']).orderBy('id').execute();
  assert.deepEqual(rows, [0, 1].map(() => ({ state: 'gave_up', attempts: 1, last_error: 'Telegram 400: Bad Request: chat not found' })));
  const lines = log.all();
  assert.equal(lines.filter((l) => /Notifications to telegram:[0-9a-f]{12} fail: Telegram 400: Bad Request: chat not found/.test(l)).length, 1, lines.join('\n'));
  assert.equal(lines.filter((l) => /Gave up notification #\d \((started|failing)\) to telegram:[0-9a-f]{12} after 1 tries: Telegram 400: Bad Request: chat not found/.test(l)).length, 2, lines.join('\n'));
});

test('the bot token never shows: not in the agent log, the stored error or `alerts`, not in `alerts test`, even when an answer quotes the URL', async (t) => {
  const s = scene(t);
  // A proxy in front of the Bot API that echoes the request line, token and all.
  const api = await fakeBotApi(t, (r) => ({ status: 502, text: `<h1>502 Bad Gateway</h1> upstream failed for POST ${r.path}` }));
  const stub = await s.stub([{ status: 200 }]);
  const path = join(s.dir(), 'history.db');
  const env = { TELEGRAM_BOT_TOKEN: TOKEN, TELEGRAM_CHAT_ID: CHAT, TELEGRAM_API_URL: api.url };
  const agent = s.cli(['run'], everySecondAgent(stub.url, path, env));
  await until(() => api.requests.length >= 1, 'the started message to be tried', 10_000);
  const db = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  try {
    await until(async () => (await db.db.selectFrom('notifications').select('last_error').where('attempts', '>=', 1).execute()).length >= 1, 'the try recorded', 10_000);
    const stored = await db.db.selectFrom('notifications').select(['channel', 'payload', 'last_error']).execute();
    assert.match(stored[0]!.last_error!, /^Telegram 502: <h1>502 Bad Gateway<\/h1> upstream failed for POST \/bot\*\*\*\/sendMessage$/);
    assert.match(stored[0]!.channel, /^telegram:[0-9a-f]{12}$/);
    assert.ok(!JSON.stringify(stored).includes(TOKEN), JSON.stringify(stored));
  } finally {
    await db.close();
  }
  agent.kill('SIGTERM');
  assert.equal((await agent.exited).code, 0, agent.stderr.join('\n'));
  const logged = [...agent.stdout, ...agent.stderr].join('\n');
  assert.match(logged, /Notifications to telegram:[0-9a-f]{12} fail: Telegram 502: .*\/bot\*\*\*\/sendMessage/);
  const listed = await runCli(['alerts', '--json', '--db', path], env);
  const tested = await runCli(['alerts', 'test'], env);
  assert.equal(tested.code, 1, tested.err);
  assert.match(tested.out, /^telegram:[0-9a-f]{12}: FAILED: Telegram 502: .* POST \/bot\*\*\*\/sendMessage$/);
  const shown = [logged, listed.out, listed.err, tested.out, tested.err].join('\n');
  assert.ok(!shown.includes(TOKEN.split(':')[1]!), shown);
  // Built from the request: the fake saw the real token, so the redaction above is not a token never sent.
  assert.equal(api.requests.at(-1)!.path, `/bot${TOKEN}/sendMessage`);
});

test('the redactor hides any bot token in a text, configured or not; other numbers with a colon stay', () => {
  assert.equal(redactUrl(`POST https://api.telegram.org/bot${TOKEN}/sendMessage failed`), 'POST https://api.telegram.org/bot***/sendMessage failed');
  assert.equal(redactUrl(`token ${TOKEN} leaked`), 'token *** leaked');
  assert.equal(redactUrl('at 12:30:45, cycle 12:7'), 'at 12:30:45, cycle 12:7');
});

test('TELEGRAM_BOT_TOKEN without TELEGRAM_CHAT_ID (and a malformed token) is a configuration error: one line, exit 2, token not shown', async () => {
  const alone = await runCli(['next'], { TELEGRAM_BOT_TOKEN: TOKEN });
  assert.equal(alone.code, 2, alone.err);
  assert.match(alone.err, /Invalid TELEGRAM_CHAT_ID="": expected set together with TELEGRAM_BOT_TOKEN: a Telegram bot needs its token and a chat/);
  const bad = await runCli(['next'], { TELEGRAM_BOT_TOKEN: 'not a token at all', TELEGRAM_CHAT_ID: CHAT });
  assert.equal(bad.code, 2, bad.err);
  assert.match(bad.err, /Invalid TELEGRAM_BOT_TOKEN="\[redacted\]": expected a bot token from @BotFather/);
  assert.ok(!`${alone.err}${bad.err}`.includes('AAHdq'));
});
