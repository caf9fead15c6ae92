import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import test from 'node:test';
import { startDelivery } from '../../src/notify/deliver.ts';
import { noticeOf } from '../../src/notify/event.ts';
import { webhookChannel } from '../../src/notify/webhook.ts';
import { openDatabase } from '../../src/store/open.ts';
import { enqueue } from '../../src/store/outbox/outbox.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { everySecondAgent } from '../helpers/cli-process.ts';
import { fastClock } from '../helpers/fast-clock.ts';
import { scene } from '../helpers/scene.ts';
import { tempDatabase } from '../helpers/temp-db.ts';
import { until } from '../helpers/wait.ts';

const T = Date.UTC(2026, 11, 6, 12, 0, 0);
type Body = { id: string; event: string; text: string };

test('killed during a slow delivery: the notification is sent again after the restart with the same Idempotency-Key and id, so a receiver that keeps them shows it once', async (t) => {
  const s = scene(t);
  // The first POST hangs (a slow receiver); later ones are answered at once.
  const hook = await s.receiver((_r, n) => (n === 1 ? 'hang' : 200));
  const stub = await s.stub([{ status: 200 }]);
  const path = join(s.dir(), 'history.db');
  const env = everySecondAgent(stub.url, path, { ALERT_WEBHOOK_URL: `${hook.url}/hook`, REPLICA_ID: 'sched-a' });
  const first = s.cli(['run'], env);
  await until(() => hook.received.length === 1, 'the started notification to reach the slow receiver', 10_000);
  first.kill('SIGKILL');
  await first.exited;
  const second = s.cli(['run'], env);
  const hung = hook.received[0]!;
  const again = () => hook.received.filter((r) => (r.body as Body).id === (hung.body as Body).id);
  await until(() => again().length === 2, 'the hung notification sent again after the restart', 15_000);
  await until(() => hook.received.some((r) => (r.body as Body).event === 'started' && r !== hung && !again().includes(r)), "the second life's own started", 10_000);
  second.kill('SIGTERM');
  assert.equal((await second.exited).code, 0, second.stderr.join('\n'));
  // Both tries carry the same key, as a header and as the body's id: at-least-once, and a receiver can make it once.
  const [a, b] = again();
  assert.match(String(a!.headers['idempotency-key']), /^[0-9a-f-]{36}$/);
  assert.equal(a!.headers['idempotency-key'], b!.headers['idempotency-key']);
  assert.equal(a!.headers['idempotency-key'], (a!.body as Body).id);
  assert.deepEqual(a!.body, b!.body);
  // A receiver keeping the keys it has seen shows one message per notification row.
  const shown = new Set(hook.received.map((r) => r.headers['idempotency-key']));
  const check = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  const rows = await check.db.selectFrom('notifications').select(['payload', 'state']).execute();
  await check.close();
  const ids = new Set(rows.map((r) => (JSON.parse(r.payload) as Body).id));
  assert.ok([...shown].every((k) => ids.has(String(k))), 'every key names a stored notification');
  assert.equal(hook.received.length, shown.size + 1, 'only the one whose answer was lost came twice');
});

test("a webhook's 429 Retry-After is honoured: the row waits that long (not the 2 s backoff) and the channel's other rows wait with it", async (t) => {
  let n = 0;
  const got: { at: number; body: Body }[] = [];
  const clock = fastClock(T, { frozen: true });
  const server = createServer((req, res) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString('utf8')));
    req.on('end', () => {
      got.push({ at: clock.now(), body: JSON.parse(text) as Body });
      if (++n === 1) res.writeHead(429, { 'retry-after': '40' }).end('slow down');
      else res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const db = await tempDatabase();
  t.after(() => db.cleanup());
  const channel = webhookChannel(`http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`);
  await enqueue(db.db, { event: 'failing', severity: 'critical', payload: JSON.stringify(noticeOf('failing', 'first', T, 'a')), createdAt: T }, [channel.key]);
  const log = captureLog();
  const loop = startDelivery({ db: db.db, owner: 'a', channels: [channel], clock, log, redact: (x) => x });
  t.after(() => loop.stop(100));
  await until(() => got.length === 1, 'the first try', 10_000);
  await enqueue(db.db, { event: 'missed', severity: 'warning', payload: JSON.stringify(noticeOf('missed', 'second', T, 'a')), createdAt: clock.now() }, [channel.key]);
  loop.wake();
  await until(async () => (await db.db.selectFrom('notifications').select('id').where('state', '=', 'sent').execute()).length === 2, 'both sent', 15_000);
  assert.equal(got.length, 3, 'the 429, then each row once');
  assert.ok(got[1]!.at >= T + 40_000 && got[2]!.at >= T + 40_000, `sent ${got.map((g) => g.at - T).join(', ')} ms after T`);
  assert.ok(got[1]!.at < T + 45_000, `${got[1]!.at - T}`);
  const rows = await db.db.selectFrom('notifications').select(['attempts']).orderBy('id').execute();
  assert.deepEqual(rows.map((r) => r.attempts), [2, 1], "the held row's wait is not a try");
});
