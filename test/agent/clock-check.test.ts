import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'node:test';
import { judgeOffset, queryNtp, startClockCheck } from '../../src/agent/upkeep/clock-check.ts';
import { systemClock } from '../../src/time/clock.ts';
import { openDatabase } from '../../src/store/open.ts';
import { everySecondAgent, runCli, spawnCli, type CliProcess } from '../helpers/cli-process.ts';
import { startDiegoStub } from '../helpers/diego-stub.ts';
import { startNtpServer, startReceiver } from '../helpers/receivers.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { pgTest, tempSchema } from '../helpers/backends.ts';
import { until } from '../helpers/wait.ts';

test('queryNtp: measures a real UDP server on 127.0.0.1 that runs 500 ms ahead; a silent one times out', async () => {
  const ahead = await startNtpServer(500);
  const silent = await startNtpServer(0, { silent: true });
  try {
    const sample = await queryNtp({ host: ahead.host, port: ahead.port }, systemClock);
    assert.ok(Math.abs(sample.offsetMs - 500) < 25, `offset ${sample.offsetMs}`);
    assert.ok(sample.rttMs >= 0 && sample.rttMs < 50, `round trip ${sample.rttMs}`);
    const started = Date.now();
    await assert.rejects(queryNtp({ host: silent.host, port: silent.port }, systemClock, 200), /no answer within 200 ms/);
    assert.ok(Date.now() - started < 1000, 'bounded by its timeout');
    assert.equal(silent.requests, 1);
  } finally {
    await ahead.close();
    await silent.close();
  }
});

test('judgeOffset: warning above CLOCK_SKEW_WARN_MS, blocking above CLOCK_SKEW_MAX_MS, either sign', () => {
  const s = { clockSkewWarnMs: 250, clockSkewMaxMs: 1000 };
  assert.deepEqual(judgeOffset(100, s), { skewed: false, blocking: false });
  assert.deepEqual(judgeOffset(-300, s), { skewed: true, blocking: false });
  assert.deepEqual(judgeOffset(1001, s), { skewed: true, blocking: true });
  assert.deepEqual(judgeOffset(-5000, { clockSkewWarnMs: 250, clockSkewMaxMs: undefined }), { skewed: true, blocking: false });
});

/** An agent every second against a Diego stub, checking its clock against `ntp`, with a webhook and a metrics file. */
async function agentWithClock(env: Record<string, string>) {
  const stub = await startDiegoStub([{ status: 200 }]);
  const hook = await startReceiver();
  const dir = tempDir();
  const files = { db: join(dir.dir, 'history.db'), prom: join(dir.dir, 'pmf.prom') };
  const agent = spawnCli(['run'], everySecondAgent(stub.url, files.db, { METRICS_FILE: files.prom, ALERT_WEBHOOK_URL: `${hook.url}/hook/secret-token-123`, ...env }));
  return {
    stub,
    hook,
    agent,
    files,
    async stop(): Promise<CliProcess> {
      agent.kill('SIGTERM');
      const done = await agent.exited;
      assert.equal(done.code, 0, agent.stderr.join('\n'));
      return agent;
    },
    async close() {
      agent.kill('SIGKILL');
      await agent.exited;
      await stub.close();
      await hook.close();
      dir.cleanup();
    },
  };
}

const events = (hook: { received: { body: unknown }[] }) => hook.received.map((r) => r.body as { event: string; severity: string; text: string; details?: Record<string, unknown> });

test('a clock above CLOCK_SKEW_MAX_MS fires nothing: every slot is recorded skipped (clock_skew), notified, and shown in the metrics', async () => {
  const ntp = await startNtpServer(600);
  const run = await agentWithClock({ NTP_SERVER: `${ntp.host}:${ntp.port}`, CLOCK_SKEW_WARN_MS: '250', CLOCK_SKEW_MAX_MS: '300' });
  try {
    await run.agent.line(/above CLOCK_SKEW_MAX_MS=300: no slot fires/);
    // CLOCK_SKEW_MAX_MS set, the clock fails closed: a slot before the first answer is held (clock_unchecked), and
    // from the verdict on every slot is skipped (clock_skew): nothing is ever sent.
    const db = await openDatabase({ kind: 'sqlite', path: run.files.db }, { readonly: true });
    try {
      await until(async () => (await db.db.selectFrom('cycles').select('id').where('reason', '=', 'clock_skew').execute()).length >= 2, 'two skipped slots', 5000);
    } finally {
      await db.close();
    }
    await until(() => events(run.hook).some((e) => e.event === 'clock_skew'), 'the clock_skew notification', 5000);
    // `status` shows each live agent's last check.
    const status = await runCli(['status', '--json', '--db', run.files.db]);
    const live = (JSON.parse(status.out) as { agents: { clock: { offsetMs: number; rttMs: number } | null }[] }).agents;
    assert.ok(live.length === 1 && live[0]!.clock !== null && Math.abs(live[0]!.clock.offsetMs - 600) < 30 + live[0]!.clock.rttMs, status.out);
    const agent = await run.stop();
    // `stats` shows the last check of each agent that checked within its window.
    const stats = await runCli(['stats', '--window', '1h', '--db', run.files.db]);
    assert.match(stats.out, /^Clock of \S+: offset \+(5[5-9]\d|6[0-4]\d) ms, round trip \d+ ms \(checked /m);
    const statsJson = await runCli(['stats', '--json', '--window', '1h', '--db', run.files.db]);
    assert.equal((JSON.parse(statsJson.out) as { clockChecks: unknown[] }).clockChecks.length, 1);
    assert.equal(run.stub.received.length, 0, 'no request to Diego: held until checked, then known to be off');
    const check = await openDatabase({ kind: 'sqlite', path: run.files.db }, { readonly: true });
    const rows = await check.db.selectFrom('cycles').select(['status', 'reason', 'error']).execute();
    const clock = await check.db.selectFrom('agents').select(['clock_offset_ms', 'clock_rtt_ms', 'clock_checked_at']).executeTakeFirstOrThrow();
    await check.close();
    const skipped = rows.filter((r) => r.reason === 'clock_skew');
    assert.ok(skipped.length >= 2 && rows.every((r) => r.reason === 'clock_skew' || r.reason === 'clock_unchecked'), JSON.stringify(rows));
    assert.ok(rows.every((r) => r.status === 'skipped'));
    assert.match(skipped[0]!.error!, /clock offset (5[5-9]\d|6[0-4]\d) ms is above CLOCK_SKEW_MAX_MS=300/);
    assert.ok(clock.clock_checked_at !== null && Math.abs(clock.clock_offset_ms! - 600) < 30 + clock.clock_rtt_ms!, `the measurement is on the agent row: ${JSON.stringify(clock)}`);
    const skew = events(run.hook).find((e) => e.event === 'clock_skew')!;
    assert.equal(skew.severity, 'critical');
    assert.equal(skew.details?.blocking, true);
    const prom = readFileSync(run.files.prom, 'utf8');
    const offset = Number(/^pmf_scheduler_clock_offset_seconds (\S+)$/m.exec(prom)?.[1]);
    assert.ok(Math.abs(offset - 0.6) < 0.1, prom);
    assert.match(prom, /^pmf_scheduler_skipped_total\{reason="clock_skew"\} [1-9]/m);
    const all = [...agent.stdout, ...agent.stderr].join('\n');
    assert.ok(!all.includes('secret-token-123'), 'the webhook URL never reaches the log');
  } finally {
    await run.close();
    await ntp.close();
  }
});

test('a clock above CLOCK_SKEW_WARN_MS only warns (one notification); an unreachable NTP server is logged once and never blocks a slot', async () => {
  const ntp = await startNtpServer(-400);
  const warn = await agentWithClock({ NTP_SERVER: `${ntp.host}:${ntp.port}`, CLOCK_SKEW_WARN_MS: '250', CLOCK_CHECK_INTERVAL_MS: '1000' });
  try {
    await until(() => warn.stub.received.length >= 2, 'two cycles fired', 10_000);
    await until(() => events(warn.hook).some((e) => e.event === 'clock_skew'), 'the warning', 10_000);
    await until(() => ntp.requests >= 3, 'three clock checks', 10_000);
    await warn.stop();
    const skews = events(warn.hook).filter((e) => e.event === 'clock_skew');
    assert.equal(skews.length, 1, 'one notification for one spell of skew, not one per check');
    assert.equal(skews[0]!.severity, 'warning');
    assert.match(skews[0]!.text, /clock offset -(3[4-9]\d|4[0-5]\d) ms/, 'about the 400 ms the server is behind, well above the 250 ms warning');
  } finally {
    await warn.close();
    await ntp.close();
  }

  // Without CLOCK_SKEW_MAX_MS the clock check only informs: a silent server never holds a slot back.
  const silent = await startNtpServer(0, { silent: true });
  const down = await agentWithClock({ NTP_SERVER: `${silent.host}:${silent.port}`, CLOCK_CHECK_INTERVAL_MS: '1000' });
  try {
    await until(() => down.stub.received.length >= 3 && silent.requests >= 2, 'cycles fire while the NTP server is silent', 15_000);
    const agent = await down.stop();
    const lines = [...agent.stdout, ...agent.stderr].filter((l) => /did not answer/.test(l));
    assert.equal(lines.length, 1, 'logged once per outage');
    assert.ok(!existsSync(down.files.prom) || !/clock_offset/.test(readFileSync(down.files.prom, 'utf8')), 'no offset is invented');
  } finally {
    await down.close();
    await silent.close();
  }
});

test('with CLOCK_SKEW_MAX_MS the clock fails closed: a silent NTP server fires nothing, each slot recorded skipped (clock_unchecked)', async () => {
  const silent = await startNtpServer(0, { silent: true });
  const held = await agentWithClock({ NTP_SERVER: `${silent.host}:${silent.port}`, CLOCK_CHECK_INTERVAL_MS: '1000', CLOCK_SKEW_WARN_MS: '5', CLOCK_SKEW_MAX_MS: '10' });
  try {
    await held.agent.line(/no clock check has answered yet \(CLOCK_SKEW_MAX_MS=10 is set\): slots are held until one does/, 15_000);
    const db = await openDatabase({ kind: 'sqlite', path: held.files.db }, { readonly: true });
    try {
      await until(async () => (await db.db.selectFrom('cycles').select('id').where('reason', '=', 'clock_unchecked').execute()).length >= 3, 'three slots held', 20_000);
    } finally {
      await db.close();
    }
    await held.stop();
    assert.equal(held.stub.received.length, 0, 'no request before a clock check answered');
  } finally {
    await held.close();
    await silent.close();
  }
});

test('[postgres] the clock is also measured against the database server\'s clock (replicas claim and lease by their own)', pgTest(), async () => {
  const ntp = await startNtpServer(0);
  const schema = await tempSchema();
  const run = await agentWithClock({ NTP_SERVER: `${ntp.host}:${ntp.port}`, DATABASE_URL: schema.url });
  try {
    const line = await run.agent.line(/Clock check: offset .+ against the database server/, 10_000);
    // The same host's clock on both sides: within a few ms, whatever the round trip.
    const ms = Number(/offset ([+-][\d.]+) ms against the database server/.exec(line)?.[1]);
    assert.ok(Number.isFinite(ms) && Math.abs(ms) < 50, line);
    await run.stop();
  } finally {
    await run.close();
    await ntp.close();
    await schema.drop();
  }
});

/** A clock whose waits end only when the test says (`tick`): each clock check runs when the test lets it. */
function steppedClock() {
  const waiting: (() => void)[] = [];
  return {
    now: () => Date.now(),
    sleep: (_ms: number, signal?: AbortSignal) =>
      new Promise<void>((resolve) => {
        waiting.push(resolve);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      }),
    tick: () => waiting.splice(0).forEach((r) => r()),
  };
}

/** startClockCheck over scripted answers: `answers` are taken in turn (an Error: the source did not answer). */
function scriptedCheck(settings: { clockSkewMaxMs?: number }, ntp: (number | Error)[], server?: (number | Error)[]) {
  const clock = steppedClock();
  const stop = new AbortController();
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m), debug: (m: string) => lines.push(m), child: () => log } as unknown as Parameters<typeof startClockCheck>[1]['log'];
  let asked = 0;
  const answer = (list: (number | Error)[], i: number) => {
    const a = list[Math.min(i, list.length - 1)]!;
    return a instanceof Error ? Promise.reject(a) : Promise.resolve({ offsetMs: a, rttMs: 1 });
  };
  let serverAsked = 0;
  const check = startClockCheck(
    { ntpServer: { host: '127.0.0.1', port: 123 }, clockCheckIntervalMs: 1000, clockSkewWarnMs: 250, clockSkewMaxMs: settings.clockSkewMaxMs },
    {
      clock,
      log,
      stop: stop.signal,
      events: { measured() {}, skew() {} },
      query: () => answer(ntp, asked++),
      extra: server && [{ name: 'the database server', measure: () => answer(server, serverAsked++) }],
    },
  );
  return {
    health: check.health,
    lines,
    /** Runs the next check and waits until it has judged. */
    async next() {
      const before = asked;
      clock.tick();
      await until(() => asked > before, 'the next clock check');
      await new Promise((r) => setTimeout(r, 20)); // its extra sources and verdict settle (no I/O: a few ticks)
    },
    async first() {
      await until(() => asked >= 1, 'the first clock check');
      await new Promise((r) => setTimeout(r, 20));
    },
    async close() {
      stop.abort();
      clock.tick();
      await check.done;
    },
  };
}

test('fail closed: with CLOCK_SKEW_MAX_MS no slot fires before the first answer (logged), then the verdict follows the offset', async () => {
  const c = scriptedCheck({ clockSkewMaxMs: 1000 }, [new Error('no answer within 2000 ms'), new Error('no answer within 2000 ms'), 30]);
  try {
    assert.equal(c.health.verdict.blocked && c.health.verdict.reason, 'clock_unchecked', 'held from the very start');
    assert.ok(c.lines.some((l) => /no clock check has answered yet \(CLOCK_SKEW_MAX_MS=1000 is set\): slots are held/.test(l)), c.lines.join('\n'));
    await c.first();
    await c.next();
    assert.equal(c.health.verdict.blocked && c.health.verdict.reason, 'clock_unchecked', 'still held while the server is silent');
    await c.next();
    assert.deepEqual(c.health.verdict, { blocked: false }, 'the first answer (30 ms) opens the gate');
  } finally {
    await c.close();
  }
  // Without CLOCK_SKEW_MAX_MS nothing is held, answer or not.
  const open = scriptedCheck({}, [new Error('no answer')]);
  try {
    await open.first();
    assert.deepEqual(open.health.verdict, { blocked: false });
  } finally {
    await open.close();
  }
});

test('fail closed: the last offset known stays in force while the time source is silent', async () => {
  const c = scriptedCheck({ clockSkewMaxMs: 1000 }, [5000, new Error('no answer within 2000 ms'), new Error('no answer within 2000 ms'), 20]);
  try {
    await c.first();
    assert.equal(c.health.verdict.blocked && c.health.verdict.reason, 'clock_skew');
    await c.next();
    await c.next();
    assert.equal(c.health.verdict.blocked && c.health.verdict.reason, 'clock_skew', 'silent: the 5 s offset still holds');
    assert.ok(c.lines.some((l) => /did not answer .*slots stay held by the last offset known/.test(l)), c.lines.join('\n'));
    await c.next();
    assert.deepEqual(c.health.verdict, { blocked: false }, 'answering again within the limit: slots fire again');
  } finally {
    await c.close();
  }
});

test("fail closed: the database server's clock offset counts like the SNTP one", async () => {
  const c = scriptedCheck({ clockSkewMaxMs: 1000 }, [10], [5000, 5000, 40]);
  try {
    await c.first();
    const v = c.health.verdict;
    assert.ok(v.blocked && v.reason === 'clock_skew' && /clock offset 5000 ms is above CLOCK_SKEW_MAX_MS=1000 \(against the database server\)/.test(v.why), JSON.stringify(v));
    assert.ok(c.lines.some((l) => /against the database server is above CLOCK_SKEW_MAX_MS=1000: no slot fires/.test(l)), c.lines.join('\n'));
    await c.next();
    assert.equal(c.health.blocked, true);
    await c.next();
    assert.deepEqual(c.health.verdict, { blocked: false }, 'both sources within the limit');
  } finally {
    await c.close();
  }
});

test('the exchange as the only clock source (EXCHANGE_TIME_URL, no NTP_SERVER): it opens the fail-closed gate, and CLOCK_SKEW_MAX_MS judges its offset', async () => {
  const clock = steppedClock();
  const stop = new AbortController();
  const lines: string[] = [];
  const log = { info: (m: string) => lines.push(m), warn: (m: string) => lines.push(m), error: (m: string) => lines.push(m), debug: (m: string) => lines.push(m), child: () => log } as unknown as Parameters<typeof startClockCheck>[1]['log'];
  const answers: (number | Error)[] = [new Error('the answer is not JSON'), 700, 1500];
  let asked = 0;
  const measure = () => {
    const a = answers[Math.min(asked++, answers.length - 1)]!;
    return a instanceof Error ? Promise.reject(a) : Promise.resolve({ offsetMs: a, rttMs: 1 });
  };
  const check = startClockCheck({ ntpServer: undefined, clockCheckIntervalMs: 1000, clockSkewWarnMs: 250, clockSkewMaxMs: 1000 }, { clock, log, stop: stop.signal, events: { measured() {}, skew() {} }, extra: [{ name: 'the exchange http://x/api/v3/time', primary: true, measure }] });
  const settle = async (n: number) => {
    await until(() => asked >= n, `check ${n}`);
    await new Promise((r) => setTimeout(r, 20));
  };
  try {
    await settle(1);
    assert.equal(check.health.verdict.blocked && check.health.verdict.reason, 'clock_unchecked', 'held until the exchange answers');
    clock.tick();
    await settle(2);
    assert.deepEqual(check.health.verdict, { blocked: false }, 'its first answer (700 ms, below 1000) opens the gate');
    assert.ok(lines.some((l) => /offset \+700 ms against the exchange http:\/\/x\/api\/v3\/time is above CLOCK_SKEW_WARN_MS=250/.test(l)), lines.join('\n'));
    clock.tick();
    await settle(3);
    assert.equal(check.health.verdict.blocked && check.health.verdict.reason, 'clock_skew', 'above CLOCK_SKEW_MAX_MS: held, as for SNTP');
  } finally {
    stop.abort();
    clock.tick();
    await check.done;
  }
});
