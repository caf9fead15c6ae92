import assert from 'node:assert/strict';
import test from 'node:test';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli-process.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { outputOf, stopReplicas } from '../helpers/replicas.ts';
import { scene } from '../helpers/scene.ts';
import { until } from '../helpers/wait.ts';

// Issue 23 §1, FIRE_CLOCK=exchange with a REAL agent process: a fake exchange whose clock runs 700 ms ahead of ours
// (answers held 0–4 ms before and after the time is read), slots every second. Each request's arrival is measured
// on the fake exchange's clock (the stub's arrival stamp + 700 ms): on its boundary, never before it. The margins
// (under 100 ms after the boundary) hold on a loaded machine; the bench measures the real spread
// (`npm run bench:precision`, docs/benchmarks.md). A local-clock fire would land 700 ms into the exchange's second.

const OFFSET_MS = 700;
/** Where in the exchange's second a request arrived (ms after its boundary). */
const phase = (at: number) => (((at + OFFSET_MS) % 1000) + 1000) % 1000;

test('FIRE_CLOCK=exchange: requests arrive on the exchange boundary; unreadable at start or for 3 checks: the local clock, loudly; back when it answers', async (ctx) => {
  const s = scene(ctx);
  const t = await s.database('sqlite');
  const stub = await s.stub([{ status: 200, body: analysisOk('HOLD') }]);
  const ex = await s.exchange({ offsetMs: OFFSET_MS, jitterMs: 4 });
  ex.mode = 'garbage'; // unreadable at start
  const metrics = join(s.dir(), 'pmf.prom');
  const agent = s.replica('exchange-1', { DATABASE_URL: t.path, DIEGO_URL: stub.url, EXCHANGE_TIME_URL: ex.url, FIRE_CLOCK: 'exchange', CLOCK_CHECK_INTERVAL_MS: '1000', METRICS_FILE: metrics });
  const out = () => outputOf(agent);
  await agent.line(/FIRE_CLOCK=exchange: the exchange's clock has not answered yet; slots fire on the local clock until it does/, 30_000);
  assert.match(out(), /Clock check: the exchange http:\/\/127\.0\.0\.1:\d+\/api\/v3\/time could not be read \(the answer is not JSON\); slots fire on the local clock/);
  await until(() => stub.received.length >= 2, 'two requests on the local clock', 10_000);
  const local = stub.received.slice(0, 2).map((r) => phase(r.at));
  assert.ok(local.every((p) => p >= OFFSET_MS && p < OFFSET_MS + 100), `on our boundary, 700 ms into the exchange's second: ${local}\n${out()}`);

  // It answers: slots go on the exchange's clock, said once.
  ex.mode = 'ok';
  await agent.line(/answers again; slots are back on the exchange's clock/, 10_000);
  let from = stub.received.length + 1; // the slot at the switch may be late or skipped: not measured
  await until(() => stub.received.length >= from + 6, 'six requests on the exchange clock', 15_000);
  const onExchange = stub.received.slice(from, from + 6).map((r) => phase(r.at));
  assert.ok(onExchange.every((p) => p < 100), `every request within 100 ms after the exchange's boundary, none before it: ${onExchange}\n${out()}`);
  assert.match(out(), /Clock check: offset \+(69\d|70\d)(\.\d+)? ms against the exchange http:\/\/127\.0\.0\.1:\d+\/api\/v3\/time/);
  assert.match(out(), /above CLOCK_SKEW_WARN_MS=250/, 'a 700 ms offset is a clock_skew warning, as for SNTP');

  // Unreadable again: the last offset holds for three checks, then the local clock, loudly (a warning line).
  ex.mode = 'redirect';
  await agent.line(/FIRE_CLOCK=exchange: the exchange .* could not be read at 3 clock checks in a row \(a redirect \(HTTP 302\), not followed.*\); slots fall back to the local clock/, 15_000);
  from = stub.received.length + 1;
  await until(() => stub.received.length >= from + 3, 'three requests after the fallback', 10_000);
  const fallen = stub.received.slice(from, from + 3).map((r) => phase(r.at));
  assert.ok(fallen.every((p) => p >= OFFSET_MS && p < OFFSET_MS + 100), `back on our boundary: ${fallen}\n${out()}`);

  ex.mode = 'ok';
  await agent.line(/answers again; slots are back on the exchange's clock/, 10_000);
  from = stub.received.length + 1;
  await until(() => stub.received.length >= from + 3, 'three requests back on the exchange clock', 10_000);
  const again = stub.received.slice(from, from + 3).map((r) => phase(r.at));
  assert.ok(again.every((p) => p < 100), `on the exchange's boundary again: ${again}\n${out()}`);

  // Shown: `status`, `next` and the metrics file.
  const status = await runCli(['status', '--db', t.path]);
  assert.match(status.out, /agent exchange-1 .*, exchange clock \+(69\d|70\d) ms \(checked .* ago\), slots fire on it,/, status.out + status.err);
  const next = await runCli(['next'], { DATABASE_URL: t.path, EXCHANGE_TIME_URL: ex.url, FIRE_CLOCK: 'exchange' });
  assert.match(next.out, /FIRE_CLOCK=exchange: these are the exchange's moments/, next.out + next.err);
  assert.match(next.out, /agent exchange-1, exchange clock \+(69\d|70\d) ms \(checked .* ago\), slots fire on it/, next.out);
  const prom = readFileSync(metrics, 'utf8');
  assert.match(prom, /^pmf_scheduler_exchange_clock_offset_seconds 0\.(69\d*|7|70\d*)$/m, prom);
  assert.match(prom, /^pmf_scheduler_fire_clock_exchange 1$/m, prom);
  assert.deepEqual(await stopReplicas([agent]), [0], out());
  assert.doesNotMatch(out(), /at .*\.(js|ts):\d+/, 'no stack trace');
});
