import { test } from 'node:test';
import assert from 'node:assert/strict';
import { queryAudit, readControlState } from '../../src/control/control-store.ts';
import { pause, resume } from '../helpers/control-actions.ts';
import { beginPause, guardOff, lastExecutionResume, lastOutcomes, liftGuard, ordersSince } from '../../src/control/guard-store.ts';
import { capReached, countFrom, EXCHANGE_UNKNOWN, exchangeStep, ORDERS_WINDOW_MS, readExchangeStatus, streakReached, type ExchangeObservation, type ExchangeState } from '../../src/control/guard-rules.ts';
import { ALL_SYMBOLS, begunPauses, pauseOf, plannedPauses } from '../../src/control/state.ts';
import { openDatabase } from '../../src/store/open.ts';
import { testOnEveryBackend, tempDatabaseOn } from '../helpers/backends.ts';

const T = Date.UTC(2024, 0, 22, 10, 0, 0);

test('exchange status: Binance shape, a ccxt-style "ok", another pointer; garbage and a missing field are unreadable, never normal', () => {
  assert.deepEqual(readExchangeStatus('{"status":0,"msg":"normal"}', ['status'], '0'), { kind: 'normal', value: '0' });
  assert.deepEqual(readExchangeStatus('{"status":1,"msg":"system_maintenance"}', ['status'], '0'), { kind: 'maintenance', value: '1', msg: 'system_maintenance' });
  assert.deepEqual(readExchangeStatus('{"data":{"state":"ok"}}', ['data', 'state'], 'ok'), { kind: 'normal', value: 'ok' });
  assert.equal(readExchangeStatus('{"data":[{"state":"maintenance"}]}', ['data', '0', 'state'], 'ok').kind, 'maintenance');
  for (const body of ['<html>502 Bad Gateway</html>', '', '{"msg":"no status"}', '{"status":{"code":0}}', '{"status":null}', '[1]']) {
    assert.equal(readExchangeStatus(body, ['status'], '0').kind, 'failed', body);
  }
});

test('exchange state machine: maintenance turns off once, normal lifts, a failing spell warns once; fail-closed after three', () => {
  const run = (obs: ExchangeObservation[], failClosed: boolean) => {
    let s: ExchangeState = EXCHANGE_UNKNOWN;
    return obs.map((o) => {
      const r = exchangeStep(s, o, failClosed);
      s = r.next;
      return r.actions.join('+') || '-';
    });
  };
  const ok: ExchangeObservation = { kind: 'normal', value: '0' };
  const down: ExchangeObservation = { kind: 'maintenance', value: '1' };
  const fail: ExchangeObservation = { kind: 'failed', why: 'refused' };
  assert.deepEqual(run([ok, ok, down, down, ok, ok], false), ['lift', '-', 'off', '-', 'lift', '-']);
  assert.deepEqual(run([ok, fail, fail, fail, fail, ok], false), ['lift', 'warn', '-', '-', '-', 'recovered'], 'without fail-closed, failures change nothing but a warning');
  assert.deepEqual(run([ok, fail, fail, fail, fail, ok], true), ['lift', 'warn', '-', 'off', '-', 'recovered+lift']);
  assert.deepEqual(run([down, fail, fail, fail, down, ok], true), ['off', 'warn', '-', '-', 'recovered', 'lift'], 'already off: no second trip');
});

test('orders cap and streak decisions', () => {
  assert.equal(capReached(ALL_SYMBOLS, 4, 5, T), undefined);
  assert.equal(capReached(ALL_SYMBOLS, 5, 5, T)?.setting, 'MAX_ORDERS_PER_HOUR');
  assert.equal(capReached('BTC/USDT', 9, 5, T)?.setting, 'MAX_ORDERS_PER_HOUR_PER_SYMBOL');
  assert.equal(capReached(ALL_SYMBOLS, 1000, undefined, T), undefined, 'no cap set');
  assert.equal(countFrom(T, 0), T - ORDERS_WINDOW_MS);
  assert.equal(countFrom(T, T - 60_000), T - 60_000, 'a resume since resets the count');
  assert.equal(streakReached([true, true, true, false], 3), true);
  assert.equal(streakReached([true, false, true, true], 3), false);
  assert.equal(streakReached([true, true], 3), false);
  assert.equal(streakReached([true, true, true], undefined), false);
});

testOnEveryBackend('guard store: six replicas tripping one guard at once write one pause and one audit row; resume --execution lifts it; the exchange guard lifts only its own', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const trip = (at: number) => guardOff(t.db, { guard: 'orders_cap', symbol: ALL_SYMBOLS, reason: 'cap', figures: { orders: 5, cap: 5 }, at });
    // Six separate connections on PostgreSQL, as six replicas would have. One process's SQLite connections would
    // block each other's event loop (better-sqlite3 waits synchronously): there the six share one connection, whose
    // transactions kysely runs one at a time, as the file lock does between processes.
    const open = () => (backend === 'postgres' ? openDatabase(t.target) : Promise.resolve({ db: t.db, close: async () => {} }));
    const others = await Promise.all(Array.from({ length: 5 }, open));
    try {
      const results = await Promise.all([trip(T), ...others.map((o, i) => guardOff(o.db, { guard: 'orders_cap', symbol: ALL_SYMBOLS, reason: 'cap', figures: { orders: 5 + i, cap: 5 }, at: T + i }))]);
      assert.equal(results.filter((r) => r !== undefined).length, 1, `exactly one wrote: ${JSON.stringify(results)}`);
    } finally {
      for (const o of others) await o.close();
    }
    const audit = await queryAudit(t.db, undefined, 100);
    assert.deepEqual(audit.map((a) => [a.action, a.by, a.scope]), [['guard', 'guard orders_cap', 'execution']]);
    const state = await readControlState(t.db);
    assert.equal(state.version, 1, 'the rolled-back trips left no version bump');
    assert.equal(pauseOf(state, 'BTC/USDT', 'execution', T + 10)?.guard, 'orders_cap', 'whichever trip won (at T to T + 4), it holds');

    // A person's kill switch beside it, and the exchange's: the exchange guard's lift leaves both others.
    await pause(t.db, { action: 'pause', symbol: 'BTC/USDT', scope: 'execution', args: {}, reason: 'ops', by: 'alice', at: T + 10, until: null, abort: false });
    await guardOff(t.db, { guard: 'exchange', symbol: ALL_SYMBOLS, reason: 'maintenance', figures: { status: '1' }, at: T + 20 });
    assert.equal((await readControlState(t.db)).pauses.length, 3);
    assert.equal((await liftGuard(t.db, 'exchange', 'normal', { status: '0' }, T + 30)).length, 1);
    assert.deepEqual((await liftGuard(t.db, 'exchange', 'normal', { status: '0' }, T + 31)).length, 0, 'a second lift finds nothing and audits nothing');
    assert.deepEqual((await readControlState(t.db)).pauses.map((p) => p.guard ?? p.by).sort(), ['alice', 'orders_cap']);

    const { lifted } = await resume(t.db, { action: 'resume', symbol: ALL_SYMBOLS, scope: 'execution', args: {}, reason: 'looked', by: 'bob', at: T + 40 });
    assert.equal(lifted.length, 2, 'a person lifts the guard with everything else');
    assert.equal(await lastExecutionResume(t.db, 'BTC/USDT'), T + 40);
    assert.deepEqual((await queryAudit(t.db, undefined, 100)).map((a) => a.action), ['guard', 'pause', 'guard', 'guard_lifted', 'resume']);
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('planned window: holds from --from to --until; its start audited once by whichever agent; resume lifts what holds now and keeps it unless --planned', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    const from = T + 60_000;
    await pause(t.db, { action: 'pause', symbol: ALL_SYMBOLS, scope: 'execution', args: {}, reason: 'maintenance announced', by: 'alice', at: T, until: from + 30_000, abort: false, from });
    const state = await readControlState(t.db);
    const [p] = state.pauses;
    assert.equal(p?.begun, false);
    assert.equal(pauseOf(state, 'BTC/USDT', 'execution', from - 1), undefined, 'before its start: execution on');
    assert.ok(pauseOf(state, 'BTC/USDT', 'execution', from), 'at its start: off');
    assert.equal(pauseOf(state, 'BTC/USDT', 'execution', from + 30_000), undefined, 'at its end: on');
    assert.deepEqual(plannedPauses(state, T).length, 1);
    assert.deepEqual(begunPauses(state, from - 1), []);
    assert.equal(begunPauses(state, from).length, 1);
    // A person's pause now does not replace the planned window; resume lifts only what holds now.
    await pause(t.db, { action: 'pause', symbol: ALL_SYMBOLS, scope: 'execution', args: {}, reason: 'now', by: 'bob', at: T + 1, until: null, abort: false });
    await pause(t.db, { action: 'pause', symbol: ALL_SYMBOLS, scope: 'execution', args: {}, reason: 'planned 2', by: 'bob', at: T + 2, until: null, abort: false, from: from + 3_600_000 });
    assert.equal((await readControlState(t.db)).pauses.length, 3);
    const now = await resume(t.db, { action: 'resume', symbol: ALL_SYMBOLS, scope: 'execution', args: {}, reason: undefined, by: 'bob', at: T + 3 });
    assert.deepEqual(now.lifted.map((x) => x.reason), ['now']);
    const other = backend === 'postgres' ? await openDatabase(t.target) : { db: t.db, close: async () => {} };
    try {
      const began = await Promise.all([beginPause(t.db, p!, 'a', from), beginPause(other.db, p!, 'b', from + 1)]);
      assert.deepEqual(began.filter(Boolean).length, 1);
    } finally {
      await other.close();
    }
    const all = await resume(t.db, { action: 'resume', symbol: ALL_SYMBOLS, scope: 'execution', args: {}, reason: undefined, by: 'bob', at: T + 4, planned: true });
    assert.equal(all.lifted.length, 2);
    assert.deepEqual((await queryAudit(t.db, undefined, 100)).map((a) => a.action), ['pause', 'pause', 'pause', 'resume', 'pause_began', 'resume']);
  } finally {
    await t.cleanup();
  }
});

testOnEveryBackend('guard counts: orders of every replica in the window, a symbol apart; the newest outcomes with failed orders counting as failures', async (backend) => {
  const t = await tempDatabaseOn(backend);
  try {
    let n = 0;
    const cycle = (symbol: string, at: number, status: 'succeeded' | 'failed', executed: number, failedOrder = 0) =>
      t.db.insertInto('cycles').values({ symbol, timeframe: '1m', trigger: 'schedule', scheduled_at: at, deadline_at: at + 1000, started_at: at, finished_at: at + 100, status, reason: null, error: null, http_status: 200, summary: null, executed, idempotency_key: `00000000-0000-4000-8000-${String(++n).padStart(12, '0')}`, owner: `r${n % 3}`, execution_failed: failedOrder }).execute();
    await cycle('BTC/USDT', T - ORDERS_WINDOW_MS - 1, 'succeeded', 1); // outside the hour
    await cycle('BTC/USDT', T - 1000, 'succeeded', 1);
    await cycle('ETH/USDT', T - 900, 'succeeded', 1);
    await cycle('ETH/USDT', T - 800, 'failed', 0);
    await cycle('ETH/USDT', T - 700, 'succeeded', 0, 1);
    assert.equal(await ordersSince(t.db, countFrom(T, 0)), 2);
    assert.equal(await ordersSince(t.db, countFrom(T, 0), 'ETH/USDT'), 1);
    assert.deepEqual(await lastOutcomes(t.db, 'ETH/USDT', 0, 5), [true, true, false]);
    assert.deepEqual(await lastOutcomes(t.db, 'ETH/USDT', T - 850, 5), [true, true], 'only after a resume');
  } finally {
    await t.cleanup();
  }
});

test('a guard shows in status (its symbol line), the planned and blackout windows too, and in the metrics file', async () => {
  const { renderStatus } = await import('../../src/control/status.ts');
  const { windowsAt } = await import('../../src/control/windows.ts');
  const { parseBlackout } = await import('../../src/time/blackout.ts');
  const { emptyMetrics, renderMetrics } = await import('../../src/agent/upkeep/metrics-file.ts');
  const guard = { symbol: ALL_SYMBOLS, scope: 'execution' as const, reason: '5 order(s) placed since … reached MAX_ORDERS_PER_HOUR=5', by: 'guard orders_cap', since: T, until: null, abort: false, auditId: 7, guard: 'orders_cap' };
  const planned = { symbol: ALL_SYMBOLS, scope: 'cycles' as const, reason: 'upgrade', by: 'alice', since: T + 3_600_000, until: T + 7_200_000, abort: false, auditId: 8, begun: false };
  const state = { version: 2, pauses: [guard, planned], schedule: null, triggers: [] };
  const r = parseBlackout('0 0 * * * * 10m');
  assert.ok('windows' in r);
  const text = renderStatus({ now: T + 60_000, agents: [], pattern: { text: '* * * * * *', source: 'CRON_PATTERN' }, next: undefined, inFlight: [], symbols: [{ symbol: 'BTC/USDT', paused: undefined, executionOff: pauseOf(state, 'BTC/USDT', 'execution', T + 60_000), lastSuccessAt: null, lastFailureAt: null, failureStreak: 0 }], windows: windowsAt(state, r.windows, T + 60_000) });
  assert.match(text, /BTC\/USDT: execution off \(analysis only\) \(all symbols\) by guard orders_cap since .*MAX_ORDERS_PER_HOUR=5/);
  assert.match(text, /Planned: paused \(all symbols\) by alice from 2024-01-22T11:00:00\.000Z, until 2024-01-22T12:00:00\.000Z: upgrade/);
  assert.match(text, /Blackout now: execution blackout "0 0 \* \* \* \* 10m" from .* until /);
  assert.match(text, /Blackout next: /);
  const metrics = renderMetrics({ ...emptyMetrics(T, null), guards: [{ symbol: 'BTC/USDT', guard: 'orders_cap', on: true }, { symbol: 'BTC/USDT', guard: 'exchange', on: false }] });
  assert.match(metrics, /^pmf_scheduler_execution_guard\{symbol="BTC\/USDT",guard="orders_cap"\} 1$/m);
  assert.match(metrics, /^pmf_scheduler_execution_guard\{symbol="BTC\/USDT",guard="exchange"\} 0$/m);
});
