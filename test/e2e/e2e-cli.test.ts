import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startSimulator, type SimulatorRequestRecord } from '../../src/diego/simulator.ts';
import { openDatabase } from '../../src/store/open.ts';
import { freePort, heldReply, startDiegoStub } from '../helpers/diego-stub.ts';
import { attemptRows, cycleRows, type AttemptRow, type CycleRow } from '../helpers/history-rows.ts';
import { spawnCli, type CliProcess } from '../helpers/cli-process.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { until, within } from '../helpers/wait.ts';

// The real binary (`node dist/src/cli.js run`, built by `npm test` / `npm run build`), spawned with its settings in
// the environment, against a stub or the built-in simulator on 127.0.0.1 and a SQLite file in a temp dir.
// Each test kills only the processes it spawned, by PID, in `finally`.

const ONCE_A_YEAR = '0 0 0 1 1 *'; // with RUN_ON_START, only the startup cycle runs during a test
const ISO = String.raw`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z`;
const LINE = new RegExp(String.raw`^\[${ISO}\] \[SCHEDULER\] (.*)$`);

interface Sandbox {
  dir: string;
  dbPath: string;
  env(overrides: Record<string, string>): Record<string, string>;
  rows(): Promise<{ cycles: CycleRow[]; attempts: AttemptRow[] }>;
}

/** A temp dir with the database path, the agent's base environment, and the spawned processes to kill. */
async function withSandbox(body: (s: Sandbox, spawned: (p: CliProcess) => CliProcess) => Promise<void>): Promise<void> {
  const t = tempDir();
  const procs: CliProcess[] = [];
  const dbPath = join(t.dir, 'history.db');
  try {
    await body(
      {
        dir: t.dir,
        dbPath,
        env: (overrides) => ({ DATABASE_URL: dbPath, MIGUEL_URL: '', STATS_INTERVAL_MS: '0', CRON_PATTERN: ONCE_A_YEAR, ...overrides }),
        async rows() {
          const db = await openDatabase({ kind: 'sqlite', path: dbPath });
          try {
            return { cycles: await cycleRows(db.db), attempts: await attemptRows(db.db) };
          } finally {
            await db.close();
          }
        },
      },
      (p) => (procs.push(p), p),
    );
  } finally {
    for (const p of procs) p.kill('SIGKILL');
    await Promise.all(procs.map((p) => within(p.exited, 5000, `agent ${p.pid} to die`).catch(() => {})));
    t.cleanup();
  }
}

/** The whole output of a stream, as written. */
const text = (lines: string[]) => lines.map((l) => `${l}\n`).join('');

/** Bounded: a stuck agent fails the test instead of hanging it (the sandbox then SIGKILLs it). */
const exitOf = (p: CliProcess) => within(p.exited, 10_000, `agent ${p.pid} to exit`);

/** The messages of pretty log lines; throws on a line that is not `[ISO] [SCHEDULER] …`. */
function messagesOf(lines: string[]): string[] {
  return lines
    .filter((l) => l !== '')
    .map((l) => {
      const m = LINE.exec(l);
      assert.ok(m, `not a pretty log line: ${JSON.stringify(l)}`);
      return m[1]!;
    });
}

test('end to end: `run` with * * * * * * against the simulator, SIGTERM → exit 0, exact log lines, rows, token nowhere', async () => {
  const token = 'e2e-SECRET-token-7f3a9c';
  const seen: SimulatorRequestRecord[] = [];
  const sim = await startSimulator({ port: 0, random: () => 0.1, onRequest: (r) => seen.push(r) });
  try {
    await withSandbox(async (s, spawned) => {
      // No startup cycle: started a few ms before a whole second, it would rightly fail at its deadline, the next slot.
      const env = { DIEGO_URL: sim.url, MIGUEL_URL: sim.url, CRON_PATTERN: '* * * * * *', RUN_ON_START: 'false', RETRY_DELAY_MS: '200', DIEGO_TOKEN: token, LOG_LEVEL: 'debug' };
      const agent = spawned(spawnCli(['run'], s.env(env)));
      const completed = () => agent.stdout.filter((l) => l.endsWith('] [SCHEDULER] Scalping cycle completed successfully')).length;
      await until(() => completed() >= 3, 'three slots to complete', 15_000);
      agent.kill('SIGTERM');
      const exit = await exitOf(agent);
      assert.deepEqual([exit.code, exit.signal], [0, null], text(agent.stderr));

      assert.equal(text(agent.stderr), '', 'no warning or error');
      const out = messagesOf(agent.stdout);
      assert.ok(out.some((m) => /^Configuration \(Diego\): .*DIEGO_TOKEN=\[redacted\]/.test(m)));
      assert.ok(out.filter((m) => m.startsWith('Configuration (')).every((m) => m.length < 300), 'the configuration in lines of readable length');
      assert.ok(out.includes(`Database: ${s.dbPath}`));
      assert.ok(out.includes('Received SIGTERM: stopping (send it again to exit at once)'));
      assert.equal(out.at(-1), 'Stopped');

      const { cycles, attempts } = await s.rows();
      assert.ok(cycles.length >= 3, `${cycles.length} cycles`);
      const scheduled = cycles;
      for (const [i, c] of scheduled.entries()) {
        assert.equal(c.trigger, 'schedule');
        assert.equal(c.scheduled_at % 1000, 0, 'slots on whole seconds');
        if (i > 0) assert.equal(c.scheduled_at, scheduled[i - 1]!.scheduled_at + 1000, 'consecutive seconds, none fired twice');
      }
      for (const c of cycles) {
        assert.deepEqual([c.status, c.attempts, c.http_status, c.executed], ['succeeded', 1, 200, 1], `cycle #${c.id}`);
        assert.match(c.summary!, /^BUY [\d.]+ @ [\d.]+ · placed sim-\d+ buy 0\.001$/);
      }
      assert.deepEqual(attempts.map((a) => [a.cycle_id, a.number, a.outcome, a.http_status]), cycles.map((c) => [c.id, 1, 'ok', 200]));

      // The four lines of each cycle, in order, exactly. The log says the answer at length; the row keeps its brief,
      // the same confidence, price and order.
      const responseLine = (summary: string) => {
        const [, confidence, price, order] = /^BUY ([\d.]+) @ ([\d.]+) · placed (sim-\d+) buy 0\.001$/.exec(summary)!;
        return `Diego response: 200 { success: true, signal: BUY, confidence: ${confidence}, price: ${price}, execution: placed ${order} buy 0.001 @ ${price} }`;
      };
      const cycleLines = out.filter((m) => /^(Starting scalping cycle|Calling Diego|Diego response|Scalping cycle)/.test(m));
      assert.deepEqual(
        cycleLines,
        cycles.flatMap((c) => [`Starting scalping cycle #${c.id} with Idempotency-Key ${c.idempotency_key}`, 'Calling Diego analysis endpoint...', responseLine(c.summary!), 'Scalping cycle completed successfully']),
      );
      for (const line of agent.stdout.filter((l) => l.includes('Starting scalping cycle #'))) {
        assert.match(line, new RegExp(String.raw`^\[${ISO}\] \[SCHEDULER\] Starting scalping cycle #\d+ with Idempotency-Key [0-9a-f-]{36}$`));
      }

      // The token was really sent, and is nowhere else: not in the output, not in any byte of the database files.
      assert.equal(seen.length, cycles.length);
      for (const r of seen) assert.equal(r.headers.authorization, `Bearer ${token}`);
      assert.deepEqual(new Set(seen.map((r) => r.headers['x-request-id'])), new Set(attempts.map((a) => a.request_id)));
      // Never early: each request left (X-Sent-At, stamped by the client as it sends) at or after its slot.
      for (const c of cycles) {
        const request = seen.find((r) => r.headers['idempotency-key'] === c.idempotency_key);
        assert.ok(request, `the request of cycle #${c.id}`);
        const sentAt = Number(request.headers['x-sent-at']);
        assert.ok(sentAt >= c.scheduled_at && sentAt < c.scheduled_at + 1000, `cycle #${c.id} sent at slot ${sentAt - c.scheduled_at} ms`);
      }
      assert.equal(text(agent.stdout).includes(token), false, 'token in stdout');
      assert.equal(text(agent.stderr).includes(token), false, 'token in stderr');
      const files = readdirSync(s.dir);
      assert.ok(files.includes('history.db'));
      for (const f of files) assert.equal(readFileSync(join(s.dir, f)).includes(token), false, `token in ${f}`);
    });
  } finally {
    await sim.close();
  }
});

test('LOG_FORMAT=json: one JSON object per line, on stdout and stderr', async () => {
  const stub = await startDiegoStub([{ status: 503, body: { success: false, error: 'busy' } }, { status: 200 }]);
  try {
    await withSandbox(async (s, spawned) => {
      const agent = spawned(spawnCli(['run'], s.env({ DIEGO_URL: stub.url, LOG_FORMAT: 'json', RETRY_DELAY_MS: '10' })));
      await agent.line(/Scalping cycle completed successfully/);
      agent.kill('SIGTERM');
      assert.equal((await exitOf(agent)).code, 0, text(agent.stderr));

      const parse = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const out = parse(agent.stdout);
      const err = parse(agent.stderr);
      for (const o of [...out, ...err]) {
        assert.equal(typeof o, 'object');
        assert.match(String(o.time), new RegExp(`^${ISO}$`));
        assert.ok(['debug', 'info', 'warn', 'error'].includes(String(o.level)));
        assert.equal(o.component, 'scheduler');
        assert.equal(typeof o.msg, 'string');
      }
      assert.ok(out.every((o) => o.level === 'info'));
      assert.deepEqual(err.map((o) => [o.level, o.msg, o.attempt, o.httpStatus]), [['warn', 'Attempt 1/3 failed: http_error (HTTP 503: busy); retrying in 10 ms', 1, 503]]);
      const start = out.find((o) => String(o.msg).startsWith('Starting scalping cycle #'));
      assert.deepEqual([start?.msg, start?.cycle, start?.symbol, start?.timeframe, start?.trigger], [`Starting scalping cycle #1 with Idempotency-Key ${String(start?.idempotencyKey)}`, 1, 'BTC/USDT', '1m', 'startup']);
      assert.match(String(start?.idempotencyKey), /^[0-9a-f-]{36}$/);
      assert.ok(out.some((o) => o.msg === 'Scalping cycle completed successfully' && o.attempts === 2));
    });
  } finally {
    await stub.close();
  }
});

test('a crash (SIGKILL) mid-attempt leaves a running row; the next start marks it interrupted (agent_died), its attempt aborted', async () => {
  const held = heldReply();
  const stub = await startDiegoStub([held.reply, { status: 200 }]);
  try {
    await withSandbox(async (s, spawned) => {
      const first = spawned(spawnCli(['run'], s.env({ DIEGO_URL: stub.url })));
      await within(Promise.race([held.held, first.exited.then(() => assert.fail(`agent exited early: ${text(first.stderr)}`))]), 5000, 'the stub to hold the request');
      first.kill('SIGKILL');
      assert.equal((await exitOf(first)).signal, 'SIGKILL');

      const left = await s.rows();
      assert.deepEqual(left.cycles.map((c) => [c.status, c.finished_at, c.owner.endsWith(`:${first.pid}`)]), [['running', null, true]], 'evidence of the crash');
      assert.deepEqual(left.attempts.map((a) => [a.outcome, a.finished_at, a.request_id]), [[null, null, stub.received[0]!.headers['x-request-id']]]);

      const second = spawned(spawnCli(['run'], s.env({ DIEGO_URL: stub.url, RUN_ON_START: 'false' })));
      await second.line(/Marked 1 cycle\(s\) left running by a stopped agent as interrupted/);
      await second.line(/Next fire time/);
      second.kill('SIGTERM');
      assert.equal((await exitOf(second)).code, 0, text(second.stderr));

      const { cycles, attempts } = await s.rows();
      assert.equal(cycles.length, 1);
      const c = cycles[0]!;
      assert.deepEqual([c.status, c.reason, c.error, c.attempts], ['interrupted', 'agent_died', 'the agent stopped before the cycle finished', 1]);
      assert.ok(c.finished_at !== null && c.finished_at >= c.started_at);
      assert.deepEqual(attempts.map((a) => [a.outcome, a.error, a.finished_at === null]), [['aborted', 'the agent stopped before the attempt finished', false]]);
      assert.equal(stub.received.length, 1, 'the restarted agent did not replay the dead cycle');
    });
  } finally {
    await stub.close();
  }
});

/** Starts an agent whose startup attempt the stub holds, and sends SIGTERM once the stub has the request. */
async function sigtermMidAttempt(s: Sandbox, spawned: (p: CliProcess) => CliProcess, stubUrl: string, held: Promise<void>, graceMs: number) {
  const agent = spawned(spawnCli(['run'], s.env({ DIEGO_URL: stubUrl, SHUTDOWN_GRACE_MS: String(graceMs) })));
  await within(Promise.race([held, agent.exited.then(() => assert.fail(`agent exited early: ${text(agent.stderr)}`))]), 5000, 'the stub to hold the request');
  agent.kill('SIGTERM');
  const sentAt = performance.now();
  await agent.line(/Stopping: no new cycles; 1 in flight/);
  return { agent, sentAt };
}

test('SIGTERM with an attempt that ends within SHUTDOWN_GRACE_MS: the cycle completes, exit 0', async () => {
  const held = heldReply();
  const stub = await startDiegoStub([held.reply]);
  try {
    await withSandbox(async (s, spawned) => {
      const { agent } = await sigtermMidAttempt(s, spawned, stub.url, held.held, 5000);
      // Diego answers a while after the stop: only a grace that really waits lets the cycle complete.
      await new Promise((resolve) => setTimeout(resolve, 200));
      held.release(200);
      const exit = await exitOf(agent);
      assert.deepEqual([exit.code, exit.signal], [0, null], text(agent.stderr));
      const out = messagesOf(agent.stdout);
      const at = (m: string) => out.indexOf(m);
      assert.ok(at('Received SIGTERM: stopping (send it again to exit at once)') >= 0);
      assert.ok(at('Scalping cycle completed successfully') > at('Received SIGTERM: stopping (send it again to exit at once)'));
      assert.equal(out.at(-1), 'Stopped');
      assert.equal(text(agent.stderr), '', 'nothing aborted');
      const { cycles, attempts } = await s.rows();
      assert.deepEqual(cycles.map((c) => [c.status, c.attempts]), [['succeeded', 1]]);
      assert.deepEqual(attempts.map((a) => a.outcome), ['ok']);
      assert.equal(stub.received.length, 1);
    });
  } finally {
    await stub.close();
  }
});

test('SIGTERM with an attempt that outlasts SHUTDOWN_GRACE_MS: attempt aborted, cycle interrupted, exit 0 within grace + 1 s', async () => {
  const held = heldReply(); // never released
  const stub = await startDiegoStub([held.reply]);
  const graceMs = 300;
  try {
    await withSandbox(async (s, spawned) => {
      const { agent, sentAt } = await sigtermMidAttempt(s, spawned, stub.url, held.held, graceMs);
      const exit = await exitOf(agent);
      assert.deepEqual([exit.code, exit.signal], [0, null], text(agent.stderr));
      const took = exit.at - sentAt;
      assert.ok(took >= graceMs - 50 && took < graceMs + 1000, `exited ${Math.round(took)} ms after SIGTERM`);
      assert.match(text(agent.stderr), new RegExp(`In-flight cycle\\(s\\) still running after SHUTDOWN_GRACE_MS=${graceMs}; aborting`));
      assert.match(text(agent.stderr), /Scalping cycle #1 interrupted by shutdown after 1 attempt\(s\)/);
      const { cycles, attempts } = await s.rows();
      assert.deepEqual(cycles.map((c) => [c.status, c.reason, c.attempts, c.finished_at !== null]), [['interrupted', 'shutdown', 1, true]]);
      assert.deepEqual(attempts.map((a) => [a.outcome, a.error, a.finished_at !== null]), [['aborted', 'aborted at shutdown', true]]);
    });
  } finally {
    await stub.close();
  }
});

test('READY_TIMEOUT_MS runs out while Diego is down: exit 1 with the reason', async () => {
  const closed = `http://127.0.0.1:${await freePort()}`;
  await withSandbox(async (s, spawned) => {
    const agent = spawned(spawnCli(['run'], s.env({ DIEGO_URL: closed, READY_TIMEOUT_MS: '300' })));
    const exit = await exitOf(agent);
    assert.deepEqual([exit.code, exit.signal], [1, null], text(agent.stderr));
    assert.match(text(agent.stdout), new RegExp(`Waiting for Diego at ${closed}/health \\(ECONNREFUSED[^\\n]*\\); retrying in \\d+ ms`));
    assert.match(text(agent.stderr), new RegExp(`Diego not ready at ${closed} after \\d+ ms \\(READY_TIMEOUT_MS=300\\): ECONNREFUSED`));
    assert.deepEqual((await s.rows()).cycles, []);
  });
});
