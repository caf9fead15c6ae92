import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { runCli } from '../helpers/cli-process.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { startNtpServer } from '../helpers/receivers.ts';
import { outputOf, stopReplicas } from '../helpers/replicas.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';

// Issue 24 item 2: `status` tells the truth about an agent that does not fire, with one exit code per state, and
// `trigger` is refused (exit 1, one line, nothing written) when no agent alive can take a run-now request. Real
// agents of the built CLI, the real CLI, SQLite files.

const ONCE_A_YEAR = '0 0 0 1 1 *';
const cli = (args: string[], db: string, env: Record<string, string> = {}) => runCli([...args, '--db', db], env);

interface StatusJson {
  state: string;
  pattern: { text: string | null; source: string };
  next: string | null;
  agents: { activity: string }[];
}

/** `status` and `trigger` against an agent in the state `state`: status exit `code`, its headline, trigger refused. */
async function notFiring(ctx: TestContext, env: Record<string, string>, ready: RegExp, expect: { state: string; code: number; headline: RegExp; refusal: RegExp }) {
  const s = scene(ctx);
  const t = await s.database('sqlite');
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const agent = s.replica('agent-1', { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: '* * * * * *', ...env });
  await agent.line(ready, 20_000).catch(() => assert.fail(outputOf(agent)));
  let status = await cli(['status'], t.path);
  await until(async () => (status = await cli(['status'], t.path)).code === expect.code, `status to exit ${expect.code}`, 10_000).catch(() => assert.fail(`status exit ${status.code}\n${status.out}\n${status.err}`));
  assert.match(status.out.split('\n')[0]!, expect.headline);
  assert.match(status.out, /^ {2}agent agent-1 \(/m);
  assert.doesNotMatch(status.out, /next slot/, 'no next slot is promised where nothing fires');
  const json = JSON.parse((await cli(['status', '--json'], t.path)).out) as StatusJson;
  assert.equal(json.state, expect.state);
  const trigger = await cli(['trigger', '--reason', 'now'], t.path);
  assert.equal(trigger.code, 1, trigger.out + trigger.err);
  assert.equal(trigger.out, '');
  assert.equal(trigger.err.trim().split('\n').length, 1, trigger.err);
  assert.match(trigger.err.trim(), expect.refusal);
  assert.match((await cli(['audit'], t.path)).out, /^No control action recorded/, 'a refused trigger writes nothing');
  assert.deepEqual(await stopReplicas([agent]), [0]);
  return stub;
}

describe('status tells the truth; trigger refused where no agent can take it', { concurrency: true }, () => {
  test('ENABLE_SCHEDULER=false: status exits 5 "disabled", trigger exit 1 one line', async (ctx) => {
    const stub = await notFiring(ctx, { ENABLE_SCHEDULER: 'false' }, /Scheduler disabled/, {
      state: 'disabled',
      code: 5,
      headline: /^Not firing: every agent alive is disabled \(ENABLE_SCHEDULER=false\)$/,
      refusal: /^pmf-scheduler: No agent alive can take it \(agent-1: disabled \(ENABLE_SCHEDULER=false\)\); not requested$/,
    });
    assert.equal(stub.received.length, 0);
  });

  test('waiting for Diego at start: status exits 6 "waiting", trigger exit 1 one line', async (ctx) => {
    // Diego's /health never answers: its URL is a port nothing listens on, so the agent waits at start.
    const stub = await notFiring(ctx, { WAIT_FOR_READY: 'true', DIEGO_URL: 'http://127.0.0.1:9' }, /Waiting for Diego at/, {
      state: 'waiting',
      code: 6,
      headline: /^Not firing yet: waiting for Diego at start$/,
      refusal: /^pmf-scheduler: No agent alive can take it \(agent-1: waiting for Diego at start\); not requested$/,
    });
    assert.equal(stub.received.length, 0);
  });

  test('a clock above CLOCK_SKEW_MAX_MS: status exits 7 "clock", trigger exit 1 one line', async (ctx) => {
    const ntp = await startNtpServer(600);
    try {
      await notFiring(ctx, { NTP_SERVER: `${ntp.host}:${ntp.port}`, CLOCK_SKEW_WARN_MS: '250', CLOCK_SKEW_MAX_MS: '300' }, /above CLOCK_SKEW_MAX_MS=300: no slot fires/, {
        state: 'clock',
        code: 7,
        headline: /^Not firing because of the clock: offset above CLOCK_SKEW_MAX_MS$/,
        refusal: /^pmf-scheduler: No agent alive can take it \(agent-1: not firing because of the clock \(clock offset \d+ ms above CLOCK_SKEW_MAX_MS\)\); not requested$/,
      });
    } finally {
      await ntp.close();
    }
  });

  test('no agent alive: status exits 1 and says the pattern is unknown instead of showing its own CRON_PATTERN', async (ctx) => {
    const s = scene(ctx);
    const t = await s.database('sqlite');
    const stub = await s.stub([{ status: 200, body: analysisOk() }]);
    const agent = s.replica('agent-1', { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: ONCE_A_YEAR });
    await agent.line(/Next fire time/, 20_000);
    const firing = await cli(['status'], t.path);
    assert.equal(firing.code, 0, firing.out + firing.err);
    assert.match(firing.out, /^Firing$/m);
    assert.deepEqual(await stopReplicas([agent]), [0]);
    const none = await cli(['status'], t.path, { CRON_PATTERN: '*/7 * * * * *' });
    assert.equal(none.code, 1, none.out);
    assert.match(none.out, /^No agent alive \(no fresh heartbeat\)$/m);
    assert.match(none.out, /^Pattern: unknown \(no agent alive to say; a new agent would start on its own CRON_PATTERN\)$/m);
    assert.doesNotMatch(none.out, /\*\/7/, "the caller's own CRON_PATTERN is not shown as the pattern");
    const json = JSON.parse((await cli(['status', '--json'], t.path)).out) as StatusJson;
    assert.deepEqual([json.state, json.pattern.text, json.next], ['noAgent', null, null]);
  });
});
