import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { everySecondAgent, runCli } from '../helpers/cli-process.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import type { Received } from '../helpers/receivers.ts';
import { runMain } from '../helpers/run-main.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';
import { openDatabase } from '../../src/store/open.ts';
import { pgTest } from '../helpers/backends.ts';
import { NOTIFICATION_SCHEMA } from '../../src/notify/event.ts';

type Body = { schema: string; event: string; severity: string; text: string; symbol?: string; cycle?: number; counts?: Record<string, number>; lastError?: string; replica: string; time: string };
const bodies = (r: Received[]) => r.map((x) => x.body as Body);
const events = (r: Received[]) => bodies(r).map((b) => b.event);

test('three failures in a row send exactly one `failing`, the next success one `recovered`; a chat webhook gets a readable text', async (t) => {
  const s = scene(t);
  // Slots 1-5 fail (one attempt each), slot 6 succeeds: failing at the 3rd failure, nothing at the 4th and 5th.
  const fail = { status: 503, body: { success: false, error: 'exchange down' } };
  const stub = await s.stub([fail, fail, fail, fail, fail, { status: 200, body: analysisOk() }]);
  const hook = await s.receiver();
  const group = await s.agents({
    path: join(s.dir(), 'history.db'),
    env: { DIEGO_URL: stub.url, RETRY_ATTEMPTS: '1', ALERT_WEBHOOK_URL: `${hook.url}/services/T0/B0/tok`, ALERT_AFTER_FAILURES: '3' },
    slots: 6,
  });
  assert.deepEqual(await group.exits, [0]);
  await until(() => events(hook.received).includes('recovered'), 'the recovered notification');
  const got = events(hook.received).filter((e) => e === 'failing' || e === 'recovered');
  assert.deepEqual(got, ['failing', 'recovered']);
  const failing = bodies(hook.received).find((b) => b.event === 'failing')!;
  assert.equal(failing.schema, NOTIFICATION_SCHEMA);
  assert.equal(failing.severity, 'critical');
  assert.equal(failing.symbol, 'BTC/USDT');
  assert.equal(failing.counts?.streak, 3);
  assert.match(failing.lastError!, /HTTP 503: exchange down/);
  assert.match(failing.text, /^:red_circle: pmf-scheduler test-host-0:1000: BTC\/USDT failing: 3 cycles in a row failed \(cycle #3\) \(last error: HTTP 503: exchange down\)$/);
  const recovered = bodies(hook.received).find((b) => b.event === 'recovered')!;
  assert.equal(recovered.counts?.streak, 5);
  assert.ok(hook.received.every((r) => r.path === '/services/T0/B0/tok'));
  const rows = await group.agents[0]!.database.db.selectFrom('notifications').select(['event', 'state', 'attempts']).where('event', 'in', ['failing', 'recovered']).execute();
  assert.deepEqual(rows.map((r) => [r.event, r.state, r.attempts]), [['failing', 'sent', 1], ['recovered', 'sent', 1]]);
});

test('a webhook that answers 503 then 200 is retried; one that answers 404 is given up; both recorded, the agent keeps firing', async (t) => {
  const s = scene(t);
  const flaky = await s.receiver((_r, n) => (n === 1 ? 503 : 200));
  const gone = await s.receiver(() => 404);
  const stub = await s.stub([{ status: 200 }]);
  const path = join(s.dir(), 'history.db');
  const agent = s.cli(['run'], everySecondAgent(stub.url, path, { ALERT_WEBHOOK_URL: `${flaky.url}/a,${gone.url}/b` }));
  // `started` goes to both: the flaky one after a retry (2 s backoff), the other never.
  await until(() => flaky.received.length >= 2, 'the retry of the flaky webhook', 8000);
  await until(() => stub.received.length >= 3, 'cycles keep firing', 5000);
  agent.kill('SIGTERM');
  assert.equal((await agent.exited).code, 0, agent.stderr.join('\n'));
  assert.equal(gone.received.length, 2, 'started, then stopping; a 404 is not retried');
  const list = await runMain(['alerts', '--json', '--db', path], { ALERT_WEBHOOK_URL: `${flaky.url}/a,${gone.url}/b` });
  assert.equal(list.code, 0, list.err.join('\n'));
  const rows = JSON.parse(list.out.join('\n')) as { event: string; state: string; attempts: number; lastError: string | null; channel: string }[];
  const started = rows.filter((r) => r.event === 'started');
  assert.deepEqual(started.map((r) => [r.state, r.attempts]).sort(), [['gave_up', 1], ['sent', 2]]);
  assert.match(started.find((r) => r.state === 'gave_up')!.lastError!, /^HTTP 404/);
  assert.ok(agent.stderr.some((l) => /Gave up notification #\d+ \(started\) to webhook:[0-9a-f]{12} after 1 tries: HTTP 404/.test(l)), agent.stderr.join('\n'));
  const table = await runMain(['alerts', '--db', path], {});
  assert.ok(table.out.some((l) => /started .* gave up/.test(l)), table.out.join('\n'));
});

test('SIGKILL between the record and the delivery: the notification is delivered after the restart', async (t) => {
  const s = scene(t);
  // The webhook hangs, so the `failing` row is written but not delivered when the agent is killed.
  let up = false;
  const hook = await s.receiver(() => (up ? 200 : 'hang'));
  const stub = await s.stub([{ status: 500, body: { success: false, error: 'boom' } }]);
  const path = join(s.dir(), 'history.db');
  const env = everySecondAgent(stub.url, path, {
    RETRY_ATTEMPTS: '1',
    ALERT_AFTER_FAILURES: '2',
    ALERT_WEBHOOK_URL: `${hook.url}/hook`,
    // The same replica starting again takes back the claims of its previous life at once.
    REPLICA_ID: 'sched-a',
  });
  const first = s.cli(['run'], env);
  await first.line(/Next fire time/);
  const db = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  try {
    await until(async () => (await db.db.selectFrom('notifications').select('id').where('event', '=', 'failing').execute()).length === 1, 'the failing row', 10_000);
  } finally {
    await db.close();
  }
  first.kill('SIGKILL');
  await first.exited;
  const failings = () => bodies(hook.received).filter((b) => b.event === 'failing').length;
  const beforeRestart = failings(); // 0 or 1: a try that hung, never answered
  up = true;
  const second = s.cli(['run'], { ...env, DIEGO_URL: stub.url });
  await until(() => failings() > beforeRestart, 'the failing notification delivered after the restart', 15_000);
  second.kill('SIGTERM');
  await second.exited;
  const check = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  const failing = await check.db.selectFrom('notifications').select(['state']).where('event', '=', 'failing').execute();
  await check.close();
  assert.deepEqual(failing.map((r) => r.state), ['sent'], 'one failing row for the one outage, now sent');
});

test('[postgres] three replicas: each notification is delivered once (one claim per row), one `failing` for the outage', pgTest(), async (ctx) => {
  const s = scene(ctx);
  const t = await s.database('postgres');
  const fail = { status: 503, body: { success: false, error: 'exchange down' } };
  const stub = await s.stub([fail, fail, fail, fail, { status: 200, body: analysisOk() }]);
  const hook = await s.receiver();
  const group = await s.agents({
    target: t.target,
    count: 3,
    env: { DIEGO_URL: stub.url, RETRY_ATTEMPTS: '1', ALERT_WEBHOOK_URL: `${hook.url}/hook`, ALERT_AFTER_FAILURES: '3' },
    slots: 5,
  });
  assert.deepEqual(await group.exits, [0, 0, 0]);
  const rows = await t.db.selectFrom('notifications').select(['id', 'event', 'state']).orderBy('id').execute();
  await until(async () => (await t.db.selectFrom('notifications').select('id').where('state', '<>', 'sent').execute()).length === 0, 'every row delivered');
  const sent = events(hook.received).sort();
  assert.deepEqual(sent, rows.map((r) => r.event).sort(), 'exactly one delivery per row');
  assert.equal(sent.filter((e) => e === 'failing').length, 1, 'one failing although three replicas ran the failed cycles');
  assert.equal(sent.filter((e) => e === 'recovered').length, 1);
  assert.equal(sent.filter((e) => e === 'started').length, 3, 'each replica says it started');
  assert.equal(new Set(bodies(hook.received).filter((b) => b.event === 'failing' || b.event === 'recovered').map((b) => b.cycle)).size, 2);
});

test('Healthchecks: /start when a cycle starts, the URL itself on success, /fail on failure, in order', async (t) => {
  const s = scene(t);
  const hc = await s.receiver();
  const stub = await s.stub([{ status: 200 }, { status: 500, body: { success: false, error: 'boom' } }, { status: 200 }]);
  const group = await s.agents({
    path: join(s.dir(), 'history.db'),
    env: { DIEGO_URL: stub.url, RETRY_ATTEMPTS: '1', HEALTHCHECK_PING_URL: `${hc.url}/ping/0b7d2d3c-uuid` },
    slots: 3,
  });
  assert.deepEqual(await group.exits, [0]);
  await until(() => hc.received.length >= 6, 'six pings');
  assert.deepEqual(hc.received.map((r) => r.path), ['/start', '', '/start', '/fail', '/start', ''].map((s) => `/ping/0b7d2d3c-uuid${s}`));
  assert.match(String(hc.received[3]!.body), /failed/);
});

test('a webhook that never answers delays no slot: the cycles fire on time while its deliveries time out', async (t) => {
  const s = scene(t);
  const hook = await s.receiver(() => 'hang');
  const stub = await s.stub([{ status: 200 }]);
  const agent = s.cli(['run'], everySecondAgent(stub.url, join(s.dir(), 'history.db'), { ALERT_WEBHOOK_URL: `${hook.url}/hook`, HEALTHCHECK_PING_URL: `${hook.url}/ping` }));
  await until(() => stub.received.length >= 5, 'five slots', 10_000);
  // Each request arrives just after its whole second: the hanging webhook and pings cost the slots nothing.
  const lateness = stub.received.map((r) => r.at % 1000).sort((a, b) => a - b);
  assert.ok(lateness[Math.floor(lateness.length / 2)]! < 50, `median lateness ${lateness.join(', ')} ms`);
  assert.ok(hook.received.length >= 2, 'the webhook and the pings were tried');
  agent.kill('SIGTERM');
  const done = await agent.exited;
  assert.equal(done.code, 0, agent.stderr.join('\n'));
});

test('alerts test: one line per channel with its result, exit 1 when one fails, 2 when none is configured; URLs never shown', async (t) => {
  const s = scene(t);
  const ok = await s.receiver();
  const bad = await s.receiver(() => 500);
  const env = { ALERT_WEBHOOK_URL: `${ok.url}/T0/secret-a,${bad.url}/T0/secret-b`, HEALTHCHECK_PING_URL: `${ok.url}/ping/secret-c` };
  const run = await runMain(['alerts', 'test'], env);
  assert.equal(run.code, 1);
  assert.equal(run.out.length, 3, run.out.join('\n'));
  assert.match(run.out[0]!, /^webhook:[0-9a-f]{12}: delivered \(HTTP 200\)$/);
  assert.match(run.out[1]!, /^webhook:[0-9a-f]{12}: FAILED: HTTP 500/);
  assert.equal(run.out[2], 'healthchecks: delivered (HTTP 200)');
  assert.ok(!JSON.stringify(run).includes('secret-'), 'no webhook URL in the output');
  assert.deepEqual(ok.received.map((r) => r.path), ['/T0/secret-a', '/ping/secret-c/log'], 'the ping goes to /log: no state change');
  assert.equal((ok.received[0]!.body as Body).event, 'test');
  const none = await runMain(['alerts', 'test'], {});
  assert.equal(none.code, 2);
  assert.match(none.err.join('\n'), /No notification channel configured: set ALERT_WEBHOOK_URL, TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID, and\/or HEALTHCHECK_PING_URL/);
  const wrong = await runMain(['alerts', 'send'], {});
  assert.equal(wrong.code, 2);
  assert.match(wrong.err.join('\n'), /Invalid alerts action "send": expected nothing \(the list\) or test/);
});

test('live control changes are told: pause and resume reach the webhook once each, with who and why', async (t) => {
  const s = scene(t);
  const hook = await s.receiver();
  const stub = await s.stub([{ status: 200 }]);
  const path = join(s.dir(), 'history.db');
  const agent = s.cli(['run'], everySecondAgent(stub.url, path, { ALERT_WEBHOOK_URL: `${hook.url}/hook` }));
  await until(() => stub.received.length >= 1, 'the agent to fire', 10_000);
  assert.equal((await runCli(['pause', '--reason', 'exchange down', '--by', 'alice', '--db', path])).code, 0);
  await until(() => events(hook.received).includes('paused'), 'the paused notification', 10_000);
  assert.equal((await runCli(['resume', '--reason', 'exchange back', '--by', 'alice', '--db', path])).code, 0);
  await until(() => events(hook.received).includes('resumed'), 'the resumed notification', 10_000);
  agent.kill('SIGTERM');
  assert.equal((await agent.exited).code, 0, agent.stderr.join('\n'));
  const control = bodies(hook.received).filter((b) => b.event === 'paused' || b.event === 'resumed');
  assert.deepEqual(control.map((b) => b.event), ['paused', 'resumed']);
  assert.equal(control[0]!.severity, 'warning');
  assert.match(control[0]!.text, /alice/);
  assert.match(control[0]!.text, /exchange down/);
});
