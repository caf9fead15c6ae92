import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createAgentEvents, subscriptions, type AgentEventMap } from '../../src/agent/events.ts';
import { startAgents } from '../helpers/agent-harness.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { startDiegoStub } from '../helpers/diego-stub.ts';
import { cycleRows } from '../helpers/history-rows.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

test('events: every listener hears an event in order; one that throws is logged and breaks neither the others nor the emitter', () => {
  const log = captureLog();
  const events = createAgentEvents(log);
  const heard: string[] = [];
  events.on('slot:skipped', (e) => heard.push(`a:${e.reason}`));
  events.on('slot:skipped', () => {
    throw new Error('observer bug');
  });
  const off = events.on('slot:skipped', (e) => heard.push(`c:${e.reason}`));
  assert.doesNotThrow(() => events.emit('slot:skipped', { reason: 'paused' }));
  off();
  events.emit('slot:skipped', { reason: 'overlap' });
  events.emit('store:outage', { error: 'disk I/O error' }); // nobody listens: nothing happens
  assert.deepEqual(heard, ['a:paused', 'c:paused', 'a:overlap']);
  assert.equal(log.err.filter((l) => /A listener of slot:skipped failed/.test(l) && /observer bug/.test(l)).length, 2, log.err.join('\n'));
});

test('events: once resolves with the first event its match accepts, then stops listening; subscriptions end together', async () => {
  const events = createAgentEvents(captureLog());
  const outage = events.once('store:outage', (e) => e.error.includes('full'));
  events.emit('store:outage', { error: 'locked' });
  events.emit('store:outage', { error: 'disk full' });
  events.emit('store:outage', { error: 'disk full again' });
  assert.deepEqual(await outage, { error: 'disk full' });
  const scoped = subscriptions(events);
  const heard: string[] = [];
  scoped.on('slot:skipped', (e) => heard.push(e.reason));
  events.emit('slot:skipped', { reason: 'paused' });
  scoped.end();
  events.emit('slot:skipped', { reason: 'overlap' });
  assert.deepEqual(heard, ['paused']);
});

test('the agent tells its heartbeat and each cycle it ran on its event stream, as recorded: a test awaits the event, not a log line', async () => {
  const stub = await startDiegoStub([{ status: 503 }, { status: 200 }]);
  const dir = tempDir();
  const ended: AgentEventMap['cycle:ended'][] = [];
  const beats: number[] = [];
  let firstEnd: Promise<AgentEventMap['cycle:ended']> | undefined;
  const group = await startAgents({
    path: join(dir.dir, 'history.db'),
    env: { DIEGO_URL: stub.url, RETRY_ATTEMPTS: '1' },
    slots: 2,
    listen: (events) => {
      events.on('agent:beat', (e) => beats.push(e.at));
      events.on('cycle:ended', (e) => ended.push(e));
      firstEnd = events.once('cycle:ended');
    },
  });
  try {
    const first = await within(firstEnd!, 10_000, 'the first cycle:ended');
    assert.equal(first.ended.status, 'failed');
    assert.deepEqual(await within(group.exits, 10_000, 'the agents to stop'), [0]);
    const rows = await cycleRows(group.agents[0]!.database.db);
    assert.deepEqual(ended.map((e) => e.ended.status), rows.map((r) => r.status), 'one event per cycle row, in order, with its status');
    assert.deepEqual(ended.map((e) => e.ended.status), ['failed', 'succeeded']);
    assert.deepEqual(ended.map((e) => e.ended.attempts.map((a) => a.outcome)), [['http_error'], ['ok']]);
    assert.ok(beats.length >= 1, 'the first heartbeat, written before any slot, was told');
  } finally {
    await group.close();
    await stub.close();
    dir.cleanup();
  }
});
