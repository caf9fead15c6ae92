import assert from 'node:assert/strict';
import test from 'node:test';
import { renderStatus, STATUS_EXIT, statusExit, statusJson, type StatusPicture } from '../../src/control/status.ts';

// The status model's "not firing because the clock went back" (issue 24, item 9), pure.

const NOW = Date.UTC(2026, 11, 7, 20, 0, 0);
const UNTIL = NOW + 3_600_000;
const agent = (hold: { until: number; backMs: number } | null, owner = 'sched-a') => ({
  owner,
  host: 'box',
  pid: 7,
  version: '1.0.0',
  cronPattern: '* * * * * *',
  symbols: ['BTC/USDT'],
  startedAt: NOW - 60_000,
  heartbeatAt: NOW - 1000,
  clock: null,
  exchange: null,
  hold,
  readyAt: NOW - 60_000,
  notFiring: null,
});
const picture = (agents: ReturnType<typeof agent>[]): StatusPicture => ({
  now: NOW,
  agents,
  pattern: { text: '* * * * * *', source: 'CRON_PATTERN of agent sched-a' },
  next: NOW + 1000,
  inFlight: [],
  symbols: [{ symbol: 'BTC/USDT', paused: undefined, executionOff: undefined, lastSuccessAt: null, lastFailureAt: null, failureStreak: 0 }],
});

test('every live agent holding its fire: "Not firing until T (the clock went back N s)", exit 4, T as the next slot', () => {
  const p = picture([agent({ until: UNTIL, backMs: 3_600_400 })]);
  assert.equal(statusExit(p), STATUS_EXIT.clockBack);
  const lines = renderStatus(p).split('\n');
  assert.equal(lines[0], `Not firing until ${new Date(UNTIL).toISOString()} (the clock went back 3600 s)`);
  assert.match(lines[1]!, /, not firing until .* \(the clock went back 3600 s\)$/);
  assert.match(lines[2]!, new RegExp(`; next slot ${new Date(UNTIL).toISOString()}$`));
  const json = statusJson(p);
  assert.equal(json.state, 'clockBack');
  assert.equal(json.next, new Date(UNTIL).toISOString());
  assert.equal(json.agents[0]!.notFiringUntil, new Date(UNTIL).toISOString());
});

test('one replica still firing: the picture says Firing (exit 0), the held one says so on its line', () => {
  const p = picture([agent({ until: UNTIL, backMs: 20_000 }), agent(null, 'sched-b')]);
  assert.equal(statusExit(p), STATUS_EXIT.firing);
  const text = renderStatus(p);
  assert.equal(text.split('\n')[0], 'Firing');
  assert.match(text, /agent sched-a .*not firing until .* \(the clock went back 20 s\)/);
  assert.match(text, new RegExp(`; next slot ${new Date(NOW + 1000).toISOString()}`));
});
