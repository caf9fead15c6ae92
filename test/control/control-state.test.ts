import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname, userInfo } from 'node:os';
import { applyControl } from '../../src/control/apply.ts';
import { readControlState, recordApplied, queryAudit } from '../../src/control/control-store.ts';
import { ALL_SYMBOLS, endedPauses, pauseOf, pollDelay, type ControlState, type Pause } from '../../src/control/state.ts';
import { testOnEveryBackend, tempDatabaseOn } from '../helpers/backends.ts';
import { pattern } from '../helpers/cron.ts';
import { spawnCli } from '../helpers/cli-process.ts';
import { within } from '../helpers/wait.ts';

const T = Date.UTC(2024, 0, 22, 10, 0, 0);
const p = (over: Partial<Pause>): Pause => ({ symbol: ALL_SYMBOLS, scope: 'cycles', reason: 'r', by: 'ops', since: T, until: null, abort: false, auditId: 1, ...over });

test('pauseOf: the symbol’s own pause first, then the whole agent’s; a scope only answers for itself; a timed pause holds until its end, exclusive', () => {
  const own = p({ symbol: 'BTC/USDT', auditId: 2, reason: 'own' });
  const whole = p({ auditId: 3, reason: 'whole' });
  const state: ControlState = { version: 3, pauses: [whole, own], schedule: null, triggers: [] };
  assert.equal(pauseOf(state, 'BTC/USDT', 'cycles', T)?.reason, 'own');
  assert.equal(pauseOf(state, 'ETH/USDT', 'cycles', T)?.reason, 'whole');
  assert.equal(pauseOf(state, 'BTC/USDT', 'execution', T), undefined);

  const timed: ControlState = { version: 1, pauses: [p({ until: T + 60_000 })], schedule: null, triggers: [] };
  assert.ok(pauseOf(timed, 'X', 'cycles', T + 59_999));
  assert.equal(pauseOf(timed, 'X', 'cycles', T + 60_000), undefined, 'the slot at its end fires');
  assert.deepEqual(endedPauses(timed, T + 59_999), []);
  assert.equal(endedPauses(timed, T + 60_000).length, 1);
});

test('pollDelay: no poll from 150 ms before a slot to 20 ms after it; elsewhere at once', () => {
  const everySecond = pattern('* * * * * *');
  assert.equal(pollDelay(everySecond, T + 500), 0);
  assert.equal(pollDelay(everySecond, T + 849), 0);
  assert.equal(pollDelay(everySecond, T + 850), 170, 'inside the window: until 20 ms past the slot');
  assert.equal(pollDelay(everySecond, T + 999), 21);
  assert.equal(pollDelay(everySecond, T + 1000), 20, 'at the slot: 20 ms on');
  assert.equal(pollDelay(everySecond, T + 1019), 1);
  assert.equal(pollDelay(everySecond, T + 1020), 0);
});

testOnEveryBackend('control store: two operators at once (two processes) are both recorded, in order; resume of nothing writes nothing; a timed end is audited once', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    // Two operators at once, each its own `pause` process: both land, one transaction each, one version each.
    const operators = [spawnCli(['pause', '--symbol', 'BTC/USDT', '--reason', 'one', '--by', 'alice', '--db', t.path], { SYMBOLS: 'BTC/USDT,ETH/USDT' }), spawnCli(['pause', '--symbol', 'ETH/USDT', '--reason', 'two', '--by', 'bob', '--for', '1h', '--db', t.path], { SYMBOLS: 'BTC/USDT,ETH/USDT' })];
    try {
      const exits = await within(Promise.all(operators.map((o) => o.exited)), 15_000, 'both pause commands');
      assert.deepEqual(exits.map((e) => e.code), [0, 0], operators.map((o) => o.stderr.join('\n')).join('\n'));
    } finally {
      for (const o of operators) o.kill('SIGKILL');
    }
    const state = await readControlState(t.db);
    assert.equal(state.version, 2);
    // `--by NAME` is kept with the OS user and host that ran the command (issue 24 item 23).
    const os = `${userInfo().username}@${hostname()}`;
    assert.deepEqual(state.pauses.map((x) => [x.symbol, x.by]).sort(), [['BTC/USDT', `alice (${os})`], ['ETH/USDT', `bob (${os})`]]);
    const audit = await queryAudit(t.db, undefined, 10);
    assert.deepEqual(audit.map((e) => e.by).sort(), [`alice (${os})`, `bob (${os})`]);
    const versions = await t.db.selectFrom('control_audit').select(['id', 'version']).orderBy('id').execute();
    assert.deepEqual(versions.map((v) => Number(v.version)), [1, 2], 'audit ids follow the order the changes committed in');

    assert.equal((await applyControl(t.db, { kind: 'resume', symbol: 'ETH/USDT', scope: 'execution', by: 'x' }, () => T)).outcome, 'unchanged');
    assert.equal((await readControlState(t.db)).version, 2, 'nothing to resume: no version, no audit');

    // Every agent sees the timed pause end: the first to remove it audits it, the others find nothing to do.
    const ended = state.pauses.find((x) => x.symbol === 'ETH/USDT')!;
    const end = (owner: string) => applyControl(t.db, { kind: 'pause_ended', pause: ended, by: `agent ${owner}` }, () => ended.until!);
    assert.equal((await end('r1')).outcome, 'applied');
    assert.equal((await end('r2')).outcome, 'unchanged');
    const after = await queryAudit(t.db, undefined, 10);
    assert.deepEqual(after.map((e) => e.action), ['pause', 'pause', 'pause_ended']);
    assert.equal(after[2]!.by, 'agent r1');
    assert.deepEqual((await recordApplied(t.db, 'r1', 0, 3, T + 2000)).map((a) => [a.id, a.action]), after.map((e) => [e.id, e.action]));
    assert.deepEqual((await queryAudit(t.db, undefined, 10)).map((e) => e.applied), after.map(() => [{ owner: 'r1', at: T + 2000 }]));

    const lifted = await applyControl(t.db, { kind: 'resume', symbol: ALL_SYMBOLS, scope: 'cycles', reason: 'back', by: 'alice' }, () => T);
    assert.deepEqual((lifted.outcome === 'applied' ? lifted.lifted : []).map((x) => x.symbol), ['BTC/USDT'], 'resume without a symbol lifts every pause of its scope');
    assert.deepEqual((await readControlState(t.db)).pauses, []);
  } finally {
    await t.cleanup();
  }
});
