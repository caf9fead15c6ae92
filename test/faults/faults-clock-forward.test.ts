import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import type { HistoryStore } from '../../src/store/port.ts';
import { startAgents, T0, type AgentGroup } from '../helpers/agent-harness.ts';
import { everySecondAgent } from '../helpers/cli-process.ts';
import { analysisOk, startDiegoStub } from '../helpers/diego-stub.ts';
import { wallClockScene } from '../helpers/faketime.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

// Issue 24, item 11: forward clock steps. A step that lands just before a slot leaves the slot fired after it no
// time to send anything before the next one: it is passed over (skipped, `missed`), never "failed after 0
// attempt(s)" while Diego answered every request. A day's jump on an every-second pattern passes over more slots
// than are counted one by one: the log says "more than 10000", not a capped count as if exact.

test('a forward step landing just before a slot: the slot fired after it sends nothing and is recorded missed, not failed/deadline after 0 attempts', async () => {
  const stub = await startDiegoStub([{ status: 200, body: analysisOk() }]);
  const dir = tempDir();
  const step = T0 + 3_600_000;
  let group: AgentGroup | undefined;
  // The clock moves inside claim writes, as a wall-clock step would while the write runs: at the 2nd slot's claim
  // (written ahead of it) an hour and 950 ms, so the agent wakes 50 ms before a slot with the one before it due; at
  // that one's claim, 200 ms more: its next slot has come before anything could be sent.
  const wrapBackend = (real: HistoryStore): HistoryStore => ({
    ...real,
    async claimCycle(c) {
      const id = await real.claimCycle(c);
      if (c.scheduledAt === T0 + 2000) group!.agents[0]!.clock.jump(3_600_950);
      if (c.scheduledAt === step + 2000) group!.agents[0]!.clock.jump(200);
      return id;
    },
  });
  try {
    group = await startAgents({ path: join(dir.dir, 'history.db'), env: { DIEGO_URL: stub.url }, frozen: true, slots: 4, wrapBackend });
    assert.deepEqual(await within(group.exits, 10_000, 'the agents to stop'), [0]);
    const rows = await cycleRows(group.agents[0]!.database.db);
    const late = rows.find((r) => r.scheduled_at === step + 2000);
    assert.ok(late, rows.map((r) => `${r.scheduled_at - T0} ${r.status}`).join('; '));
    assert.deepEqual([late.status, late.reason, late.attempts], ['skipped', 'missed', 0], late.error ?? '');
    assert.equal(rows.filter((r) => r.status === 'failed').length, 0, 'nothing failed: Diego answered every request');
    assert.equal(stub.received.length, rows.filter((r) => r.status === 'succeeded').length, 'one POST per succeeded cycle, none for the missed one');
    const lines = group.agents[0]!.log.all();
    assert.ok(!lines.some((l) => /after 0 attempt/.test(l)), lines.join('\n'));
    assert.ok(lines.some((l) => new RegExp(`Slot ${new Date(step + 2000).toISOString()} passed over: not fired: a later slot was already due`).test(l)), lines.join('\n'));
  } finally {
    await group?.close();
    await stub.close();
    dir.cleanup();
  }
});

test("a day's forward jump under the real CLI: the log says more than 10000 slots were missed, not a capped count as if exact", async (t) => {
  const w = await wallClockScene(t);
  if (!w) return;
  const { s, stub, db, clock } = w;
  const cli = s.cli(['run'], everySecondAgent(stub.url, db, { STATS_INTERVAL_MS: '0' }), { preload: clock.preload });
  await cli.line(/Scalping cycle completed successfully/);
  clock.offset(86_400);
  const line = await cli.line(/Missed .* slot\(s\) from/, 10_000);
  assert.match(line, /Missed more than 10000 slot\(s\) from \S+ \(late wake-up or clock jump\); firing only /);
  cli.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0, cli.stderr.join('\n'));
});
