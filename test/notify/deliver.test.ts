import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { webhookChannel } from '../../src/notify/webhook.ts';
import { CHANNEL_RATE_PER_MINUTE, startDelivery } from '../../src/notify/deliver.ts';
import { enqueue } from '../../src/store/outbox/outbox.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { fastClock, stillClock } from '../helpers/fast-clock.ts';
import { startReceiver } from '../helpers/receivers.ts';
import { tempDatabase } from '../helpers/temp-db.ts';
import { until } from '../helpers/wait.ts';

// The delivery loop against a real SQLite outbox and real webhook receivers on 127.0.0.1, on a frozen clock that
// only its own sleeps move: the rate limit's minute passes in a few hundred polls, not in a minute.

const T = Date.UTC(2026, 11, 6, 12, 0, 0);

test(`rate limit: a burst of 25 to one channel sends ${CHANNEL_RATE_PER_MINUTE} at once and the rest a minute later, each once; another channel is not held back; a held row's tries are not spent`, async () => {
  const db = await tempDatabase();
  const busy = await startReceiver();
  const quiet = await startReceiver();
  const [busyChannel, quietChannel] = [`${busy.url}/busy`, `${quiet.url}/quiet`].map(webhookChannel);
  const clock = fastClock(T, { frozen: true });
  const log = captureLog();
  for (let i = 0; i < 25; i++) await enqueue(db.db, { event: 'missed', severity: 'warning', payload: JSON.stringify({ n: i }), createdAt: T }, [busyChannel!.key]);
  for (let i = 0; i < 3; i++) await enqueue(db.db, { event: 'failing', severity: 'critical', payload: JSON.stringify({ n: i }), createdAt: T }, [quietChannel!.key]);
  const loop = startDelivery({ db: db.db, owner: 'agent-1', channels: [busyChannel!, quietChannel!], clock, log, redact: (s) => s });
  try {
    // Delivered, and recorded as such (the record comes after the receiver has the POST).
    const sent = async () => (await db.db.selectFrom('notifications').select('id').where('state', '=', 'sent').execute()).length;
    await until(async () => (await sent()) === 28, 'every notification to be delivered and recorded', 10_000);
    const rows = await db.db.selectFrom('notifications').selectAll().orderBy('id').execute();
    assert.deepEqual(rows.map((r) => r.state), Array(28).fill('sent'));
    const busyRows = rows.filter((r) => r.channel === busyChannel!.key);
    // The first twenty went out at T; the other five waited for the first delivery's minute to pass, no sooner.
    assert.deepEqual(busyRows.slice(0, CHANNEL_RATE_PER_MINUTE).map((r) => r.sent_at), Array(CHANNEL_RATE_PER_MINUTE).fill(T));
    const late = busyRows.slice(CHANNEL_RATE_PER_MINUTE);
    assert.equal(late.length, 5);
    assert.ok(late.every((r) => r.sent_at! >= T + 60_000 && r.sent_at! < T + 60_000 + 2000), late.map((r) => r.sent_at! - T).join(', '));
    // Held back by the limit is not a failed try: each row was tried once, and nothing was logged as failing.
    assert.deepEqual(rows.map((r) => r.attempts), Array(28).fill(1));
    assert.deepEqual(log.all(), []);
    // The quiet channel was not queued behind the busy one's minute.
    assert.deepEqual(rows.filter((r) => r.channel === quietChannel!.key).map((r) => r.sent_at), [T, T, T]);
    // Each payload reached its channel once.
    assert.deepEqual(busy.received.map((r) => (r.body as { n: number }).n).sort((a, b) => a - b), [...Array(25).keys()]);
    assert.deepEqual(quiet.received.map((r) => (r.body as { n: number }).n), [0, 1, 2]);
  } finally {
    await loop.stop(100);
    await busy.close();
    await quiet.close();
    await db.cleanup();
  }
});

test('a webhook that redirects is given up at once and its target never reached; one that is down is retried after the backoff; each said once', async () => {
  const db = await tempDatabase();
  const target = await startReceiver();
  // Answers every POST with a redirect to the target: a token-bearing body must not follow it.
  const redirecting = createServer((_req, res) => res.writeHead(302, { location: `${target.url}/elsewhere` }).end());
  await new Promise<void>((resolve) => redirecting.listen(0, '127.0.0.1', resolve));
  // A port that was just free: nothing listens there.
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
  const downPort = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const [moved, down] = [`http://127.0.0.1:${(redirecting.address() as AddressInfo).port}/hook`, `http://127.0.0.1:${downPort}/hook`].map(webhookChannel);
  const clock = stillClock(); // one round per wake, no retry by itself
  const log = captureLog();
  for (const c of [moved!, down!]) await enqueue(db.db, { event: 'failing', severity: 'critical', payload: '{}', createdAt: Date.now() }, [c.key]);
  const loop = startDelivery({ db: db.db, owner: 'agent-1', channels: [moved!, down!], clock, log, redact: (s) => s });
  try {
    const before = Date.now();
    loop.wake();
    const tried = async () => (await db.db.selectFrom('notifications').select('id').where('attempts', '=', 1).execute()).length;
    await until(async () => (await tried()) === 2, 'one try of each', 5000);
    const after = Date.now();
    const [r1, r2] = await db.db.selectFrom('notifications').selectAll().orderBy('id').execute();
    assert.deepEqual([r1!.state, r1!.last_error], ['gave_up', 'HTTP 302: redirect not followed']);
    assert.equal(target.received.length, 0, 'the redirect target got nothing');
    assert.equal(r2!.state, 'pending');
    assert.match(r2!.last_error!, /ECONNREFUSED|refused|fetch failed/i);
    assert.ok(r2!.next_at >= before + 2000 && r2!.next_at <= after + 2000, `retried ${r2!.next_at - before} ms on`);
    assert.equal(log.all().filter((l) => l.includes(`Notifications to ${moved!.key} fail`)).length, 1);
    assert.equal(log.all().filter((l) => l.includes(`Notifications to ${down!.key} fail`)).length, 1);
    assert.equal(log.all().filter((l) => /Gave up notification #1 \(failing\) .* after 1 tries: HTTP 302/.test(l)).length, 1);
  } finally {
    await loop.stop(100);
    await new Promise<void>((resolve) => redirecting.close(() => resolve()));
    await target.close();
    await db.cleanup();
  }
});
