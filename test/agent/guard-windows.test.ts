import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { queryAudit } from '../../src/control/control-store.ts';
import { pause } from '../helpers/control-actions.ts';
import { ALL_SYMBOLS } from '../../src/control/state.ts';
import { openDatabase } from '../../src/store/open.ts';
import { T0, startAgents, type AgentGroup } from '../helpers/agent-harness.ts';
import { startDiegoStub } from '../helpers/diego-stub.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

// runAgent in-process on a frozen fast clock (slot times exact whatever the load), the real Diego client against a
// stub, a real SQLite file: a recurring blackout window and a window planned ahead cross their edges, slot by slot.

test('a blackout window (EXECUTION_BLACKOUT) and a planned window (pause --execution --from) turn execution off exactly from their start to their end, slot by slot; the planned one audited at both ends', async () => {
  const stub = await startDiegoStub([{ status: 200 }]);
  const dir = tempDir();
  const path = join(dir.dir, 'history.db');
  let group: AgentGroup | undefined;
  try {
    // Planned before the agent starts: execution off from T0+4.5 s until T0+7.5 s (slots 5, 6 and 7).
    const setup = await openDatabase({ kind: 'sqlite', path });
    await pause(setup.db, { action: 'pause', symbol: ALL_SYMBOLS, scope: 'execution', args: {}, reason: 'exchange upgrade announced', by: 'alice', at: T0 - 60_000, until: T0 + 7500, abort: false, from: T0 + 4500 });
    await setup.close();
    // Every 10 s from second 0, for 3 s: slots 0–2 and 10–12 of each minute.
    group = await startAgents({ path, env: { DIEGO_URL: stub.url, EXECUTION_BLACKOUT: '*/10 * * * * * 3s' }, frozen: true, slots: 12 });
    assert.deepEqual(await within(group.exits, 30_000, 'the agent to stop'), [0]);
    const rows = await cycleRows(group.agents[0]!.database.db);
    const bySlot = new Map(rows.map((r) => [Math.round((Number(r.scheduled_at) - T0) / 1000), r.execution_off]));
    const expected: [number, RegExp | null][] = [
      [1, /^execution blackout "\*\/10 \* \* \* \* \* 3s" until 2024-01-22T10:00:03\.000Z/],
      [2, /^execution blackout/],
      [3, null],
      [4, null],
      [5, /^execution paused by alice: exchange upgrade announced$/],
      [6, /^execution paused by alice/],
      [7, /^execution paused by alice/],
      [8, null],
      [9, null],
      [10, /^execution blackout .* until 2024-01-22T10:00:13\.000Z/],
      [11, /^execution blackout/],
      [12, /^execution blackout/],
    ];
    for (const [slot, off] of expected) {
      assert.ok(bySlot.has(slot), `slot ${slot} fired: ${JSON.stringify([...bySlot.keys()])}`);
      if (off === null) assert.equal(bySlot.get(slot), null, `slot ${slot}: execution on`);
      else assert.match(bySlot.get(slot) ?? '', off, `slot ${slot}`);
    }
    // What Diego was sent agrees with the rows: triggerExecution true exactly on slots 3, 4, 8 and 9.
    const keyToSlot = new Map(rows.map((r) => [r.idempotency_key, Math.round((Number(r.scheduled_at) - T0) / 1000)]));
    const onSlots = stub.received.filter((r) => JSON.parse(r.body).triggerExecution === true).map((r) => keyToSlot.get(String(r.headers['idempotency-key'])));
    assert.deepEqual(onSlots.sort((a, b) => a! - b!), [3, 4, 8, 9]);
    const audit = await queryAudit(group.agents[0]!.database.db, undefined, 100);
    assert.deepEqual(audit.map((a) => a.action), ['pause', 'pause_began', 'pause_ended'], 'its start and its end, once each');
  } finally {
    await group?.close();
    await stub.close();
    dir.cleanup();
  }
});
