import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { queryAudit, readControlState } from '../../src/control/control-store.ts';
import { startAgents, type AgentGroup } from '../helpers/agent-harness.ts';
import { startDiegoStub, type Reply } from '../helpers/diego-stub.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

// runAgent in-process (frozen fast clock, real Diego client against a stub, real SQLite): EXECUTION_OFF_AFTER_FAILURES.

async function streak(reply: Reply, check: (g: AgentGroup) => Promise<void>) {
  const stub = await startDiegoStub([reply]);
  const dir = tempDir();
  let group: AgentGroup | undefined;
  try {
    group = await startAgents({ path: join(dir.dir, 'history.db'), env: { DIEGO_URL: stub.url, RETRY_ATTEMPTS: '1', EXECUTION_OFF_AFTER_FAILURES: '3', SYMBOLS: 'BTC/USDT,ETH/USDT' }, frozen: true, slots: 12 });
    assert.deepEqual(await within(group.exits, 30_000, 'the agent to stop'), [0]);
    await check(group);
  } finally {
    await group?.close();
    await stub.close();
    dir.cleanup();
  }
}

async function assertTripped(g: AgentGroup, why: RegExp) {
  const db = g.agents[0]!.database.db;
  const audit = await queryAudit(db, undefined, 100);
  const trips = audit.filter((a) => a.action === 'guard');
  assert.deepEqual(trips.map((t) => [t.by, t.symbol]).sort(), [['guard failures', 'BTC/USDT'], ['guard failures', 'ETH/USDT']], 'one trip per symbol, once each');
  for (const t of trips) assert.match(t.reason ?? '', why);
  const state = await readControlState(db);
  assert.deepEqual(state.pauses.map((p) => [p.guard, p.scope]), [['failures', 'execution'], ['failures', 'execution']], 'still off: only a person lifts it');
  const all = await cycleRows(db);
  for (const symbol of ['BTC/USDT', 'ETH/USDT']) {
    const rows = all.filter((r) => r.symbol === symbol);
    const first = rows.findIndex((r) => r.execution_off !== null);
    assert.ok(first >= 3, `${symbol}: cycles went on analysis only, none before the third failure (first at row ${first})`);
    const after = rows.slice(first);
    assert.ok(after.every((r) => new RegExp(`execution paused by guard failures: .*${symbol}`).test(r.execution_off ?? '')), JSON.stringify(after.map((r) => r.execution_off)));
  }
}

test('EXECUTION_OFF_AFTER_FAILURES=3: three failed cycles of a symbol in a row turn its execution off (audited by guard, once), cycles go on analysis only', async () => {
  await streak({ status: 500, body: { success: false, error: 'down' } }, (g) => assertTripped(g, /3 cycle\(s\) of (BTC|ETH)\/USDT in a row failed/));
});

test('EXECUTION_OFF_AFTER_FAILURES=3: answers that say the order failed count as failures, though the cycles succeeded', async () => {
  const body = { success: true, analysis: { signal: 'BUY', price: 1 }, execution: { placed: false, status: 'rejected', error: 'insufficient balance' } };
  await streak({ status: 200, body }, async (g) => {
    const rows = await cycleRows(g.agents[0]!.database.db);
    assert.ok(rows.every((r) => r.status === 'succeeded'), 'every cycle succeeded');
    assert.ok(rows.some((r) => Number(r.execution_failed) === 1));
    await assertTripped(g, /in a row failed or their order failed/);
  });
});
