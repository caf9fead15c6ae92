import { hostname, userInfo } from 'node:os';
import { readFileSync } from 'node:fs';
import { describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { BACKENDS, backendTest, type BackendName } from '../helpers/backends.ts';
import { runCli } from '../helpers/cli-process.ts';
import { analysisOk, heldReply, type DiegoStub } from '../helpers/diego-stub.ts';
import { outputOf, slotRows, stopReplicas, type Replica } from '../helpers/replicas.ts';
import { scene } from '../helpers/scene.ts';
import { until, within } from '../helpers/wait.ts';

// Live control end to end (issue #12): real agents (the built CLI, on `* * * * * *`), the real CLI acting on them
// through the database, a real Diego stub. SQLite: one agent on a file; PostgreSQL: three replicas on one schema.

/** `pmf-scheduler …args --db DB`, run to its end. */

/** Who runs the commands: `--by NAME` is recorded with it (issue 24 item 23). */
const OS = `${userInfo().username}@${hostname()}`;
const cli = (args: string[], db: string) => runCli([...args, '--db', db]);

/** The body of each POST the stub received, with its arrival time. */
const posts = (stub: DiegoStub) => stub.received.map((r) => ({ at: r.at, body: JSON.parse(r.body) as { symbol: string; triggerExecution: boolean } }));

/**
 * Waits (bounded) for every agent to log the line that says it applied a change. A failure names the agents that did
 * not and prints every agent's output, so a miss on one replica can be read beside the others' timing.
 */
async function appliedBy(agents: readonly Replica[], re: RegExp, what: string): Promise<void> {
  const seen = await Promise.all(agents.map((a) => a.line(re, 5000).then(() => true, () => false)));
  const missing = agents.filter((_, i) => !seen[i]).map((a) => a.id);
  if (missing.length > 0) assert.fail(`${missing.join(', ')} did not log ${what} (at ${new Date().toISOString()})\n${agents.map(outputOf).join('\n')}`);
}

describe('live control: pause, analysis only, resume, timed pause, status and audit, on running agents', { concurrency: true }, () => {
  for (const backend of BACKENDS) {
    test(`[${backend}] ${backend === 'sqlite' ? 'one agent' : 'three replicas'}: pause stops every POST (one skipped/paused row per slot), resume fires the next slot, --execution sends triggerExecution false, --for ends by itself; all audited and applied within 1 s`, backendTest(backend), async (ctx) => {
      await scenario(ctx, backend);
    });
  }
});

test('[sqlite] pause --abort cuts the cycle in flight within 1 s: interrupted, reason paused; without --abort it would have run on', async (ctx) => {
  const s = scene(ctx);
  const t = await s.database('sqlite');
  const held = heldReply();
  const stub = await s.stub([held.reply]);
  const agents = [s.replica('agent-1', { DATABASE_URL: t.path, DIEGO_URL: stub.url, CRON_PATTERN: '0 0 0 1 1 *' })];
  await agents[0]!.line(/Next fire time/, 20_000);
  assert.equal((await cli(['trigger'], t.path)).code, 0);
  await within(held.held, 5000, 'the manual cycle to reach Diego');
  const cut = await cli(['pause', '--abort', '--reason', 'exchange halted'], t.path);
  assert.equal(cut.code, 0, cut.err);
  assert.match(cut.out, /^Paused \(all symbols\), cycles in flight cut by /m);
  await agents[0]!.line(/Scalping cycle #1 interrupted by pause --abort after 1 attempt\(s\)/, 1100 + 500);
  const [row] = await slotRows(t.db);
  assert.deepEqual([row!.status, row!.reason], ['interrupted', 'paused']);
  const attempt = await t.db.selectFrom('attempts').select(['outcome']).executeTakeFirstOrThrow();
  assert.equal(attempt.outcome, 'aborted');
  assert.deepEqual(await stopReplicas(agents), [0]);
});

async function scenario(ctx: TestContext, backend: BackendName): Promise<void> {
  const s = scene(ctx);
  const t = await s.database(backend);
  const stub = await s.stub([{ status: 200, body: analysisOk('HOLD') }]);
  const ids = backend === 'sqlite' ? ['agent-1'] : ['replica-1', 'replica-2', 'replica-3'];
  // One agent keeps a metrics file (replicas would each need their own).
  const metricsFile = `${t.path}.prom`;
  const metricsEnv = (i: number): Record<string, string> => (backend === 'sqlite' && i === 0 ? { METRICS_FILE: metricsFile } : {});
  const agents = ids.map((id, i) => s.replica(id, { DATABASE_URL: t.path, DIEGO_URL: stub.url, ...metricsEnv(i) }));
  await Promise.all(agents.map((a) => a.line(/Next fire time/, 20_000)));
  await until(() => stub.received.length >= 2, 'two cycles before the pause', 10_000);
  const gauge = (value: 0 | 1) => `pmf_scheduler_paused{symbol="BTC/USDT",scope="cycles"} ${value}`;
  const metricsSay = async (line: string) => {
    if (backend === 'sqlite') await until(() => readFileSync(metricsFile, 'utf8').split('\n').includes(line), `the metrics file to say ${line}`, 2000);
  };
  await metricsSay(gauge(0));

  // Pause: applied by every agent within 1 s of the command's end; from then on no POST, every slot a skipped row.
  const paused = await cli(['pause', '--reason', 'exchange down', '--by', 'ops-alice'], t.path);
  assert.equal(paused.code, 0, paused.err);
  assert.match(paused.out, /^Paused \(all symbols\) by ops-alice \(.+@.+\) since .*: exchange down$/m);
  await appliedBy(agents, /\[SCHEDULER\] Control: paused \(all symbols\) by ops-alice/, 'the pause');
  const pausedApplied = Date.now();
  assert.ok(pausedApplied - paused.exitedAt < 1000 + 100, `applied ${pausedApplied - paused.exitedAt} ms after the command ended`);
  await metricsSay(gauge(1));
  // Three slots pass while paused.
  const pausedRows = async () => (await slotRows(t.db)).filter((r) => r.status === 'skipped' && r.reason === 'paused');
  await until(async () => (await pausedRows()).length >= 3, 'three paused slots', 10_000);
  const status = await cli(['status'], t.path);
  assert.equal(status.code, 3, `status exits 3 while every symbol is paused\n${status.out}\n${status.err}`);
  assert.match(status.out, /^Paused: agents alive, no cycle fires$/m);
  for (const id of ids) assert.match(status.out, new RegExp(`agent ${id} \\(`));
  const healthy = await cli(['healthcheck'], t.path);
  assert.equal(healthy.code, 0, `paused is a decision, not a failure: ${healthy.out}`);
  assert.match(healthy.out, /^healthy: agent .*: heartbeat \d+ s ago; paused \(all symbols\) by ops-alice \(.+@.+\) since .*, until resumed: exchange down$/);
  const json = JSON.parse((await cli(['status', '--json'], t.path)).out) as { state: string; agents: { owner: string }[]; symbols: { symbol: string; paused: { by: string; reason: string } | null }[] };
  assert.equal(json.state, 'paused');
  assert.deepEqual(json.agents.map((a) => a.owner).sort(), ids);
  assert.deepEqual(json.symbols.map((s) => [s.symbol, s.paused?.by, s.paused?.reason]), [['BTC/USDT', `ops-alice (${OS})`, 'exchange down']]);

  const resumed = await cli(['resume', '--reason', 'exchange back', '--by', 'ops-bob'], t.path);
  assert.equal(resumed.code, 0, resumed.err);
  await appliedBy(agents, /\[SCHEDULER\] Control: resumed \(all symbols\)/, 'the resume');
  const resumedApplied = Date.now();
  await metricsSay(gauge(0));
  assert.ok(resumedApplied - resumed.exitedAt < 1100, `applied ${resumedApplied - resumed.exitedAt} ms after the command ended`);
  // The slot after the resume fires.
  await until(() => stub.received.some((r) => r.at > resumedApplied), 'a POST after the resume', 3000);
  const again = await cli(['resume'], t.path);
  assert.deepEqual([again.code, again.out], [0, 'Nothing to resume: no pause of all symbols in force']);

  // The kill switch: cycles go on, sent with triggerExecution false, and the row says why.
  const off = await cli(['pause', '--execution', '--reason', 'orders off', '--by', 'risk'], t.path);
  assert.equal(off.code, 0, off.err);
  await appliedBy(agents, /\[SCHEDULER\] Control: execution off \(analysis only\) \(all symbols\) by risk/, 'the execution pause');
  const offApplied = Date.now();
  await until(() => posts(stub).filter((p) => p.at > offApplied).length >= 2, 'two POSTs with execution off', 5000);
  assert.ok(posts(stub).filter((p) => p.at > offApplied).every((p) => p.body.triggerExecution === false), 'every POST after it says triggerExecution false');
  const history = await cli(['history', '--limit', '1', '--json'], t.path);
  const [newest] = JSON.parse(history.out) as { status: string; executionOff: string | null }[];
  assert.equal(newest!.executionOff, `execution paused by risk (${OS}): orders off`);
  const on = await cli(['resume', '--execution'], t.path);
  assert.equal(on.code, 0, on.err);
  await appliedBy(agents, /\[SCHEDULER\] Control: execution back on \(all symbols\)/, 'execution back on');
  // A slot claimed before the resume committed may still leave analysis-only: the stricter of the claim's read and
  // the copy decides, never the other way round. Every slot claimed after it (PREPARE_LEAD_MS = 100 ms before its
  // moment, so any slot more than a second later) has execution on.
  const onApplied = Date.now() + 1000;
  await until(() => posts(stub).some((p) => p.at > onApplied), 'a POST a slot after execution is back on', 4000);
  assert.ok(posts(stub).filter((p) => p.at > onApplied).every((p) => p.body.triggerExecution === true));

  // A timed pause ends by itself, and one agent audits its end.
  const timed = await cli(['pause', '--symbol', 'BTC/USDT', '--for', '1s', '--reason', 'short'], t.path);
  assert.equal(timed.code, 0, timed.err);
  // An agent that reads the state only after the pause ended (slower than 1 s under load) never had it in force,
  // and says that instead (test/control/control-watch.test.ts): either way its log accounts for the pause.
  await appliedBy(agents, /\[SCHEDULER\] Control: (resumed \(BTC\/USDT\); was paused \(BTC\/USDT\)|paused \(BTC\/USDT\) by .*; it ended before this agent read it)/, 'the end of the timed pause');

  assert.deepEqual(await stopReplicas(agents), ids.map(() => 0), agents.map(outputOf).join('\n'));

  // Every slot once, none missing: fired, or skipped because paused.
  const rows = await slotRows(t.db);
  const slots = rows.map((r) => Number(r.scheduled_at));
  for (let i = 1; i < slots.length; i++) assert.equal(slots[i], slots[i - 1]! + 1000, `slot ${new Date(slots[i]!).toISOString()} follows the one before, once`);
  assert.deepEqual(
    rows.filter((r) => r.status !== 'succeeded' && !(r.status === 'skipped' && r.reason === 'paused') && !(r.status === 'failed' && r.reason === 'deadline')).map((r) => [r.scheduled_at, r.status, r.reason]),
    [],
  );
  const keys = stub.received.map((r) => String(r.headers['idempotency-key']));
  assert.equal(new Set(keys).size, keys.length, 'no Idempotency-Key sent twice');

  // The audit: every action in order, who and why, applied by every agent.
  const audit = JSON.parse((await cli(['audit', '--json'], t.path)).out) as { action: string; at: string; scope: string; symbol: string; by: string; reason: string | null; applied: { owner: string; at: string }[] }[];
  assert.deepEqual(
    audit.map((e) => [e.action, e.scope, e.symbol, e.by, e.reason]),
    [
      ['pause', 'cycles', '*', `ops-alice (${OS})`, 'exchange down'],
      ['resume', 'cycles', '*', `ops-bob (${OS})`, 'exchange back'],
      ['pause', 'execution', '*', `risk (${OS})`, 'orders off'],
      ['resume', 'execution', '*', audit[3]!.by, null],
      ['pause', 'cycles', 'BTC/USDT', audit[4]!.by, 'short'],
      ['pause_ended', 'cycles', 'BTC/USDT', audit[5]!.by, 'short'],
    ],
  );
  assert.match(audit[3]!.by, /^.+@.+$/, 'without --by: the OS user and host');
  assert.match(audit[5]!.by, /^agent (agent|replica)-\d$/);
  for (const e of audit) assert.deepEqual(e.applied.map((a) => a.owner).sort(), ids, `${e.action} applied by every agent`);

  // While paused (from the last agent applying the pause to the resume): no cycle but skipped/paused ones, and no
  // POST of any such cycle (told apart by Idempotency-Key, as the agents stamped them, not by arrival time).
  const from = Math.max(...audit[0]!.applied.map((a) => Date.parse(a.at)));
  const to = Date.parse(audit[1]!.at);
  const whilePaused = rows.filter((r) => Number(r.scheduled_at) > from && Number(r.scheduled_at) < to);
  assert.ok(whilePaused.length >= 3, `${whilePaused.length} slots while paused`);
  assert.deepEqual(whilePaused.filter((r) => r.status !== 'skipped' || r.reason !== 'paused').map((r) => [r.scheduled_at, r.status]), [], 'one skipped/paused row per slot');
  const pausedKeys = new Set(whilePaused.map((r) => r.idempotency_key));
  assert.deepEqual(keys.filter((k) => pausedKeys.has(k)), [], 'no POST while paused');
  // A slot prepared just before the pause keeps its unsent first attempt's row (`not sent: paused before its slot`).
  const rowKeys = new Set(rows.map((r) => r.idempotency_key));
  assert.deepEqual(keys.filter((k) => !rowKeys.has(k)), [], 'every POST is a recorded cycle');
  assert.deepEqual(rows.filter((r) => r.status === 'succeeded' && !keys.includes(r.idempotency_key)).map((r) => r.scheduled_at), [], 'every success was a POST');
}
