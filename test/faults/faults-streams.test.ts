import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analysisOk } from '../helpers/diego-stub.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { openDatabase } from '../../src/store/open.ts';
import { agentHeldAtFirstPost } from '../helpers/held-agent.ts';
import { scene } from '../helpers/scene.ts';
import { until, within } from '../helpers/wait.ts';

// The process's edges going away under a running agent (issue 24 items 7 and 8): a closed stdout, a SIGHUP.

async function cyclesOf(path: string) {
  const opened = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  try {
    return await cycleRows(opened.db);
  } finally {
    await opened.close();
  }
}

test('a closed stdout (`run | head`) while Diego answers: the agent goes on, the cycle answered 200 is recorded succeeded, exit 0 at SIGTERM', async (t) => {
  const s = scene(t);
  const { held, stub, db, cli } = await agentHeldAtFirstPost(s, [{ status: 200, body: analysisOk() }]);
  cli.child.stdout!.destroy(); // the reader is gone, as when `head` has its lines: the agent's next write gets EPIPE
  held.release(200);
  await until(() => stub.received.length >= 3, 'POSTs after stdout closed', 15_000);
  await cli.line(/stdout was closed \(EPIPE\): its lines are dropped from now on; the agent goes on/);
  cli.kill('SIGTERM');
  const exit = await within(cli.exited, 20_000, 'the agent to stop');
  assert.equal(exit.code, 0, cli.stderr.join('\n'));
  assert.ok(!cli.stderr.some((l) => /Uncaught|EPIPE.*\n?\s+at /.test(l)), cli.stderr.join('\n'));
  const cycles = await cyclesOf(db);
  const first = cycles.find((c) => c.idempotency_key === String(stub.received[0]!.headers['idempotency-key']));
  assert.equal(first?.status, 'succeeded', JSON.stringify(first));
  assert.ok(cycles.every((c) => c.status === 'succeeded'), JSON.stringify(cycles.map((c) => [c.status, c.error])));
});

test('SIGHUP (a closed terminal or SSH session) stops the agent like SIGTERM: the cycle in flight finishes and is recorded, exit 0', async (t) => {
  const s = scene(t);
  const { held, db, cli } = await agentHeldAtFirstPost(s);
  cli.kill('SIGHUP');
  await cli.line(/Received SIGHUP: stopping/);
  held.release(200);
  const exit = await within(cli.exited, 20_000, 'the agent to stop');
  assert.deepEqual([exit.code, exit.signal], [0, null], cli.stderr.join('\n'));
  assert.ok(cli.stdout.some((l) => /Stopped$/.test(l)), cli.stdout.join('\n'));
  const cycles = await cyclesOf(db);
  assert.equal(cycles.length, 1, JSON.stringify(cycles));
  assert.equal(cycles[0]!.status, 'succeeded', JSON.stringify(cycles[0]));
});
