import { test } from 'node:test';
import assert from 'node:assert/strict';
import { pause } from '../helpers/control-actions.ts';
import { createHistoryStore } from '../../src/store/history/history-store.ts';
import type { NewCycle } from '../../src/store/port.ts';
import { BACKENDS, backendTest, tempDatabaseOn } from '../helpers/backends.ts';

// Issue 22: the claim reads the pauses in its own statement. On each backend, with the backend's own claim path
// (PostgreSQL's INSERT … SELECT for replicas, SQLite's INSERT … VALUES).

const NOW = Date.UTC(2024, 0, 22, 10, 0, 0);
const cycle = (over: Partial<NewCycle> = {}): NewCycle => ({
  symbol: 'BTC/USDT',
  timeframe: '1m',
  trigger: 'schedule',
  scheduledAt: NOW,
  deadlineAt: NOW + 60_000,
  startedAt: NOW,
  idempotencyKey: '0b5e3c2a-1111-4aaa-8aaa-000000000001',
  owner: 'box:42',
  ...over,
});
const act = { action: 'pause' as const, args: {}, abort: false };

for (const backend of BACKENDS) {
  test(`[${backend}] a claim under a pause of cycles is written skipped/paused; under a pause of execution it records the flag it read; a planned pause not begun yet holds nothing`, backendTest(backend), async () => {
    const t = await tempDatabaseOn(backend);
    try {
      const store = createHistoryStore(t.db, (s) => s, t.traits);
      // A pause of execution for all symbols, one of cycles for ETH only, and a planned window (since ahead).
      await pause(t.db, { ...act, symbol: '*', scope: 'execution', reason: 'kill switch', by: 'alice', at: NOW - 1000, until: null });
      await pause(t.db, { ...act, symbol: 'ETH/USDT', scope: 'cycles', reason: 'delisted', by: 'bob', at: NOW - 1000, until: null });
      await pause(t.db, { ...act, symbol: 'SOL/USDT', scope: 'cycles', reason: 'maintenance', by: 'carol', at: NOW + 30_000, until: NOW + 90_000 });

      const btc = (await store.claimCycle(cycle()))!;
      assert.deepEqual(store.claimAnswer(btc), { paused: undefined, executionOff: 'execution paused by alice: kill switch' });
      assert.equal(store.claimAnswer(btc), undefined, 'read once');
      const eth = (await store.claimCycle(cycle({ symbol: 'ETH/USDT', idempotencyKey: '0b5e3c2a-1111-4aaa-8aaa-000000000002' })))!;
      assert.equal(store.claimAnswer(eth)?.paused, 'paused by bob: delisted');
      const sol = (await store.claimCycle(cycle({ symbol: 'SOL/USDT', idempotencyKey: '0b5e3c2a-1111-4aaa-8aaa-000000000003' })))!;
      assert.equal(store.claimAnswer(sol)?.paused, undefined, 'the planned window has not begun at the slot');
      const solLater = (await store.claimCycle(cycle({ symbol: 'SOL/USDT', scheduledAt: NOW + 60_000, startedAt: NOW + 60_000, idempotencyKey: '0b5e3c2a-1111-4aaa-8aaa-000000000004' })))!;
      assert.equal(store.claimAnswer(solLater)?.paused, 'paused by carol: maintenance', 'inside the planned window');

      const rows = await t.db.selectFrom('cycles').select(['symbol', 'scheduled_at', 'status', 'reason', 'error', 'execution_off', 'lease_until', 'finished_at']).orderBy('id').execute();
      const by = (symbol: string, at = NOW) => rows.find((r) => r.symbol === symbol && Number(r.scheduled_at) === at)!;
      assert.deepEqual([by('BTC/USDT').status, by('BTC/USDT').execution_off], ['running', 'execution paused by alice: kill switch']);
      assert.ok(by('BTC/USDT').lease_until !== null && by('BTC/USDT').finished_at === null);
      assert.deepEqual([by('ETH/USDT').status, by('ETH/USDT').reason, by('ETH/USDT').error, by('ETH/USDT').lease_until], ['skipped', 'paused', 'paused by bob: delisted', null]);
      assert.equal(Number(by('ETH/USDT').finished_at), NOW);
      assert.equal(by('SOL/USDT').status, 'running');
      assert.equal(by('SOL/USDT', NOW + 60_000).status, 'skipped');
      // The slot key still decides between claims: a second claim of BTC's slot gets nothing.
      assert.equal(await store.claimCycle(cycle({ idempotencyKey: '0b5e3c2a-1111-4aaa-8aaa-000000000005', owner: 'other:7' })), undefined);
    } finally {
      await t.cleanup();
    }
  });
}
