import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { everySecondAgent, runCli } from '../helpers/cli-process.ts';
import { analysisOk } from '../helpers/diego-stub.ts';
import { scene } from '../helpers/scene.ts';
import { until, within } from '../helpers/wait.ts';

// What an operator reads (issue 24 items 14 and 15), from the real CLI.

test('several symbols: each attempt line names its cycle and symbol; JSON end lines carry status and durationMs alike; the key is in every cycle line and in history', async (t) => {
  const s = scene(t);
  // ETH/USDT always fails (retried, then failed), BTC/USDT succeeds: their lines interleave.
  const stub = await s.stub([
    (_req, res) => {
      const eth = stub.received.at(-1)!.body.includes('ETH/USDT');
      res.writeHead(eth ? 503 : 200, { 'content-type': 'application/json' }).end(JSON.stringify(eth ? { success: false, error: 'busy' } : analysisOk()));
    },
  ]);
  const db = join(s.dir(), 'history.db');
  const env = everySecondAgent(stub.url, db, { SYMBOLS: 'BTC/USDT,ETH/USDT', STATS_INTERVAL_MS: '0', RETRY_DELAY_MS: '100', RETRY_ATTEMPTS: '2' });
  const pretty = s.cli(['run'], env);
  await until(() => pretty.stdout.filter((l) => /Diego response: 200/.test(l)).length >= 1 && [...pretty.stderr].some((l) => /failed/.test(l)), 'a success and a failure', 15_000);
  pretty.kill('SIGTERM');
  await within(pretty.exited, 15_000, 'the pretty agent to stop');
  const lines = [...pretty.stdout, ...pretty.stderr];
  for (const re of [/Calling Diego analysis endpoint\.\.\./, /Diego response: /, /Attempt \d+\/\d+ failed/]) {
    const found = lines.filter((l) => re.test(l));
    assert.ok(found.length > 0, `${re}: ${lines.join('\n')}`);
    for (const l of found) assert.match(l, /\(cycle #\d+, (BTC|ETH)\/USDT\)$/, l);
  }

  const json = s.cli(['run'], { ...env, LOG_FORMAT: 'json' });
  const records = () => json.stdout.concat(json.stderr).flatMap((l) => (l.startsWith('{') ? [JSON.parse(l) as Record<string, unknown>] : []));
  await until(() => records().some((r) => String(r.msg).startsWith('Scalping cycle completed successfully')) && records().some((r) => /^Scalping cycle #\d+ failed/.test(String(r.msg))), 'a success and a failure in JSON', 15_000).catch((e) => {
    throw new Error(`${String(e)}\n${json.stderr.slice(0, 8).join('\n')}`);
  });
  json.kill('SIGTERM');
  await within(json.exited, 15_000, 'the JSON agent to stop');
  const ok = records().find((r) => String(r.msg).startsWith('Scalping cycle completed successfully'))!;
  const failed = records().find((r) => /^Scalping cycle #\d+ failed/.test(String(r.msg)))!;
  for (const end of [ok, failed]) {
    for (const field of ['cycle', 'symbol', 'status', 'attempts', 'durationMs', 'idempotencyKey']) assert.ok(field in end, `${field} in ${JSON.stringify(end)}`);
  }
  assert.equal(ok.status, 'succeeded');
  assert.equal(failed.status, 'failed');
  const keys = new Set(stub.received.map((r) => String(r.headers['idempotency-key'])));
  assert.ok(keys.has(String(ok.idempotencyKey)), 'the logged key is the one Diego received');

  const detail = await runCli(['history', '--cycle', String(ok.cycle), '--db', db]);
  assert.match(detail.out, new RegExp(`key\\s+${String(ok.idempotencyKey)} \\(Idempotency-Key`));
});

test('history: piped rows are not cut, the summary is whole (it was cut at 70 characters)', async (t) => {
  const s = scene(t);
  const long = { ...analysisOk(), analysis: { signal: 'BUY', confidence: 0.8, price: 97000, reasoning: 'x' }, execution: { placed: true, orderId: 'order-with-a-rather-long-identifier-0123456789abcdef', side: 'buy', quantity: 0.001 } };
  const stub = await s.stub([{ status: 200, body: long }]);
  const db = join(s.dir(), 'history.db');
  const agent = s.cli(['run'], everySecondAgent(stub.url, db, { STATS_INTERVAL_MS: '0' }));
  await agent.line(/Scalping cycle completed successfully/, 15_000);
  agent.kill('SIGTERM');
  await within(agent.exited, 15_000, 'the agent to stop');
  const piped = await runCli(['history', '--db', db]);
  const row = piped.out.split('\n').find((l) => l.includes('succeeded'))!;
  assert.ok(row.includes('order-with-a-rather-long-identifier-0123456789abcdef'), `piped, the summary is whole: ${row}`);
  assert.ok(!row.includes('…'), row);
});
