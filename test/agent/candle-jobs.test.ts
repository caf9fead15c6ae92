import { test } from 'node:test';
import assert from 'node:assert/strict';
import { T0, startAgents } from '../helpers/agent-harness.ts';
import { backendTest, BACKENDS, tempDatabaseOn } from '../helpers/backends.ts';
import { analysisOk, startDiegoStub } from '../helpers/diego-stub.ts';
import { cycleRows } from '../helpers/history-rows.ts';

// Candle-aligned jobs (issue 23 §2): runAgent in-process on a frozen fast clock (an hour passes in seconds, slot
// times exact whatever the load), the real Diego client against a real HTTP stub, a real SQLite file or the real
// PostgreSQL shared by replicas.

const MINUTE = 60_000;
const SYMBOLS = ['BTC/USDT', 'ETH/USDT'];

for (const backend of BACKENDS) {
  const replicas = backend === 'postgres' ? 3 : 1;
  test(`[${backend}] TIMEFRAMES=1m,5m over an hour: 60 + 12 slots per symbol, each at its candle's close, once across ${replicas} agent(s), deadlines at the job's next close`, backendTest(backend), async () => {
    const t = await tempDatabaseOn(backend);
    const stub = await startDiegoStub([{ status: 200, body: analysisOk() }]);
    // T0 is 10:00:00 UTC: the hour's slots are 10:01 … 11:00, the 5m ones 10:05 … 11:00.
    const group = await startAgents({
      target: t.target,
      count: replicas,
      frozen: true,
      slots: 60,
      env: { DIEGO_URL: stub.url, CRON_PATTERN: '', TIMEFRAMES: '5m,1m', SYMBOLS: SYMBOLS.join(','), RETRY_ATTEMPTS: '1' },
    });
    try {
      assert.deepEqual(await group.exits, Array(replicas).fill(0));
      const rows = await cycleRows(t.db);
      const minutes = Array.from({ length: 60 }, (_, k) => T0 + (k + 1) * MINUTE);
      for (const symbol of SYMBOLS) {
        const of = (tf: string) => rows.filter((r) => r.symbol === symbol && r.timeframe === tf);
        assert.deepEqual(of('1m').map((r) => Number(r.scheduled_at)), minutes, `${symbol} 1m: every minute's close, once each`);
        assert.deepEqual(of('5m').map((r) => Number(r.scheduled_at)), minutes.filter((m) => (m - T0) % (5 * MINUTE) === 0), `${symbol} 5m: every fifth minute, once each`);
        for (const r of of('1m')) assert.equal(Number(r.deadline_at), Number(r.scheduled_at) + MINUTE, 'a 1m cycle may run until the next minute');
        for (const r of of('5m')) assert.equal(Number(r.deadline_at), Number(r.scheduled_at) + 5 * MINUTE, 'a 5m cycle may run until its next close');
      }
      assert.equal(rows.length, SYMBOLS.length * 72);
      assert.deepEqual(new Set(rows.map((r) => r.status)), new Set(['succeeded']));
      // Diego got one request per job and slot, each saying its job's timeframe.
      assert.equal(stub.received.length, rows.length, 'no slot fired twice');
      const sent = stub.received.map((r) => JSON.parse(r.body) as { symbol: string; timeframe: string });
      for (const symbol of SYMBOLS) {
        assert.equal(sent.filter((b) => b.symbol === symbol && b.timeframe === '1m').length, 60);
        assert.equal(sent.filter((b) => b.symbol === symbol && b.timeframe === '5m').length, 12);
      }
      assert.equal(new Set(stub.received.map((r) => r.headers['idempotency-key'])).size, rows.length);
      if (replicas > 1) assert.ok(new Set(rows.map((r) => r.owner)).size > 1, 'the replicas shared the work');
    } finally {
      await group.close();
      await stub.close();
      await t.cleanup();
    }
  });
}
