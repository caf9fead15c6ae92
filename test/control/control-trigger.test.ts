import { readFileSync } from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, backendTest, type BackendName } from '../helpers/backends.ts';
import { runCli } from '../helpers/cli-process.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { outputOf, stopReplicas } from '../helpers/replicas.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';

// Run now (`pmf-scheduler trigger`), end to end: real agents of the built CLI on a pattern that does not fire during
// the test (so every POST the stub sees is a manual cycle), the real CLI, a real Diego stub.

const ONCE_A_YEAR = '0 0 0 1 1 *';

/** `pmf-scheduler …args --db DB`, run to its end. */
const cli = (args: string[], db: string) => runCli([...args, '--db', db]);

describe('run now: trigger fires exactly one manual cycle within 1 s', { concurrency: true }, () => {
  for (const backend of BACKENDS) {
    test(`[${backend}] ${backend === 'sqlite' ? 'one agent' : 'three replicas'}: trigger --wait → one POST within 1 s, trigger manual, printed like history --cycle, exit 0; with no agent alive exit 1 and nothing requested`, backendTest(backend), async (ctx) => {
      await scenario(ctx, backend);
    });
  }

  test('[sqlite] trigger is refused (exit 1, one line, nothing written) when the only agent alive is idle (ENABLE_SCHEDULER=false); a request taken by no agent (its one agent killed: its heartbeat still fresh) expires after 10 s, audited as expired, never fired', async (ctx) => {
    const s = scene(ctx);
    const t = await s.database('sqlite');
    const stub = await s.stub([{ status: 200, body: analysisOk() }]);
    const idle = s.replica('idle-1', { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: ONCE_A_YEAR, ENABLE_SCHEDULER: 'false' });
    await idle.line(/Scheduler disabled/, 20_000);
    const refused = await cli(['trigger', '--wait', '--reason', 'nobody home'], t.path);
    assert.equal(refused.code, 1, refused.out + refused.err);
    assert.equal(refused.out, '');
    assert.equal(refused.err.trim(), 'pmf-scheduler: No agent alive can take it (idle-1: disabled (ENABLE_SCHEDULER=false)); not requested');
    assert.equal((await cli(['audit'], t.path)).out.trim().startsWith('No control action recorded'), true, 'nothing requested, nothing audited');
    assert.deepEqual(await stopReplicas([idle]), [0]);

    // An agent that fired, killed: its heartbeat is still fresh, so the request is written, and nobody takes it.
    const killed = s.replica('killed-1', { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: ONCE_A_YEAR });
    await killed.line(/Next fire time/, 20_000);
    killed.kill('SIGKILL');
    await killed.exited;
    const started = Date.now();
    const r = await cli(['trigger', '--wait', '--reason', 'nobody home'], t.path);
    assert.equal(r.code, 1, r.out + r.err);
    assert.match(r.err, /^pmf-scheduler: Run-now request #1 expired: no agent took it by .*; not fired$/m);
    assert.ok(Date.now() - started >= 10_000, 'it waited for the expiry');
    const audit = JSON.parse((await cli(['audit', '--json'], t.path)).out) as { action: string; outcome: string | null }[];
    assert.deepEqual(audit.map((e) => [e.action, e.outcome]), [['trigger', 'expired'], ['trigger_expired', null]]);
    assert.equal(stub.received.length, 0, 'never fired');
  });
});

async function scenario(ctx: TestContext, backend: BackendName): Promise<void> {
  const s = scene(ctx);
  const t = await s.database(backend);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const ids = backend === 'sqlite' ? ['agent-1'] : ['replica-1', 'replica-2', 'replica-3'];
  const metricsFile = `${t.path}.prom`;
  const metricsEnv: Record<string, string> = backend === 'sqlite' ? { METRICS_FILE: metricsFile } : {};
  const agents = ids.map((id) => s.replica(id, { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: ONCE_A_YEAR, SYMBOLS: 'BTC/USDT', ...metricsEnv }));
  await Promise.all(agents.map((a) => a.line(/Next fire time/, 20_000)));

  const r = await cli(['trigger', '--wait', '--reason', 'check now', '--by', 'ops'], t.path);
  assert.equal(r.code, 0, r.out + r.err);
  assert.match(r.out, /^Run-now request #1 \(all symbols\) by ops \(.+@.+\): one running agent fires it within 1 s/m);
  assert.match(r.out, /^Taken by (agent|replica)-\d at /m);
  assert.match(r.out, /^Cycle #\d+ {2}BTC\/USDT 1m {2}\(manual\)$/m);
  assert.match(r.out, /status +succeeded/);
  assert.equal(stub.received.length, 1, 'exactly one POST among all agents');
  if (backend === 'sqlite') await until(() => readFileSync(metricsFile, 'utf8').includes('\npmf_scheduler_manual_cycles_total 1\n'), 'the metrics file to count the manual cycle', 2000);

  // Within 1 s of the request (its time is when the command wrote it).
  const [request] = JSON.parse((await cli(['audit', '--json'], t.path)).out) as { at: string; outcome: string }[];
  const latency = stub.received[0]!.at - Date.parse(request!.at);
  assert.ok(latency <= 1000, `POST ${latency} ms after the request`);
  assert.match(request!.outcome, /^fired by (agent|replica)-\d at /);

  // A second one, without --wait: one more POST, one more manual cycle; `history --trigger manual` lists both.
  const second = await cli(['trigger', '--symbol', 'BTC/USDT'], t.path);
  assert.equal(second.code, 0, second.err);
  await until(() => stub.received.length >= 2, 'the second manual POST', 5000);
  const manual = JSON.parse((await cli(['history', '--trigger', 'manual', '--json'], t.path)).out) as { trigger: string; status: string }[];
  await until(async () => (JSON.parse((await cli(['history', '--trigger', 'manual', '--json'], t.path)).out) as { status: string }[]).every((c) => c.status !== 'running'), 'the second cycle to end', 5000);
  assert.equal(manual.length, 2);
  assert.ok(manual.every((c) => c.trigger === 'manual'));
  const keys = stub.received.map((x) => x.headers['idempotency-key']);
  assert.equal(new Set(keys).size, 2, 'one Idempotency-Key per cycle');
  assert.ok(stub.received.every((x) => JSON.parse(x.body).triggerExecution === true));

  assert.deepEqual(await stopReplicas(agents), ids.map(() => 0), agents.map(outputOf).join('\n'));
  assert.equal(stub.received.length, 2, 'no more POSTs');

  // No agent alive: says so, exit 1, nothing requested.
  const none = await cli(['trigger'], t.path);
  assert.equal(none.code, 1);
  assert.match(none.err, /^pmf-scheduler: No agent alive \(no heartbeat in the last 60 s\): nothing would run it; not requested$/);
  const audit = JSON.parse((await cli(['audit', '--json'], t.path)).out) as unknown[];
  assert.equal(audit.length, 2, 'the two requests, nothing for the refused one');
  const status = await cli(['status'], t.path);
  assert.equal(status.code, 1, 'status: no agent alive');
  assert.match(status.out, /^No agent alive \(no fresh heartbeat\)$/m);
}

test('[sqlite] a run-now request skipped by a pause: audit says skipped, not fired; stats does not count it among the paused slots (issue 24 item 3)', async (ctx) => {
  const s = scene(ctx);
  const t = await s.database('sqlite');
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const agent = s.replica('agent-1', { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: ONCE_A_YEAR, SYMBOLS: 'BTC/USDT' });
  await agent.line(/Next fire time/, 20_000);
  assert.equal((await cli(['pause', '--reason', 'exchange down'], t.path)).code, 0);
  await agent.line(/Control: paused \(all symbols\)/, 5000);
  const r = await cli(['trigger', '--reason', 'check now'], t.path);
  assert.equal(r.code, 0, r.err);
  type Entry = { action: string; outcome: string | null };
  let request: Entry | undefined;
  await until(async () => {
    request = (JSON.parse((await cli(['audit', '--json'], t.path)).out) as Entry[]).find((e) => e.action === 'trigger');
    return request !== undefined && request.outcome !== 'pending' && (await cli(['history', '--trigger', 'manual', '--json'], t.path)).out.includes('"skipped"');
  }, 'the request to be taken and its cycle recorded', 15_000).catch(() => assert.fail(`${JSON.stringify(request)}\n${outputOf(agent)}`));
  assert.doesNotMatch(request!.outcome!, /^fired/, 'a request whose cycle a pause skipped was not fired');
  assert.match(request!.outcome!, /^skipped by agent-1 at \S+ \(paused\): not fired$/);
  assert.match((await cli(['audit'], t.path)).out, / → skipped by agent-1 at \S+ \(paused\): not fired$/m);
  const stats = JSON.parse((await cli(['stats', '--json', '--window', '1h'], t.path)).out) as { total: { pausedSlots: number; manualCycles: number } };
  assert.deepEqual([stats.total.pausedSlots, stats.total.manualCycles], [0, 1], 'the skipped manual cycle is a run-now cycle, not a paused slot');
  assert.equal(stub.received.length, 0, 'nothing sent while paused');
  assert.deepEqual(await stopReplicas([agent]), [0]);
});
