import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { watchExchange } from '../../src/agent/upkeep/exchange-watch.ts';
import { queryAudit, readControlState } from '../../src/control/control-store.ts';
import { pauseOf } from '../../src/control/state.ts';
import { systemClock } from '../../src/time/clock.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { pattern } from '../helpers/cron.ts';
import { tempDatabase } from '../helpers/temp-db.ts';
import { until } from '../helpers/wait.ts';

// The exchange guard against a real HTTP server on 127.0.0.1 that the test switches between answers, a real SQLite
// file, the real clock with a fast poll. Each step waits for its effect (a row, an audit entry, a log line).

type Answer = { status: number; body: string } | 'hang';

async function fakeExchange(): Promise<{ url: string; set(a: Answer): void; polls: number; close(): Promise<void> }> {
  let answer: Answer = { status: 200, body: '{"status":0,"msg":"normal"}' };
  let polls = 0;
  const server: Server = createServer((req, res) => {
    polls++;
    if (answer === 'hang') return; // never answers: the poll's timeout must end it
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(answer.body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/sapi/v1/system/status?apiKey=SECRETKEY123`,
    set: (a) => (answer = a),
    get polls() {
      return polls;
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

async function scene(failClosed: boolean, run: (s: { ex: Awaited<ReturnType<typeof fakeExchange>>; db: Awaited<ReturnType<typeof tempDatabase>>; log: ReturnType<typeof captureLog>; exchangeOff: () => Promise<boolean> }) => Promise<void>) {
  const ex = await fakeExchange();
  const db = await tempDatabase();
  const log = captureLog();
  const stop = new AbortController();
  // A yearly pattern: no slot near, so pollDelay never holds a poll back here (its own test is in control-state).
  const loop = watchExchange({ db: db.db, settings: { url: ex.url, intervalMs: 300, field: ['status'], ok: '0', failClosed }, cron: pattern('0 0 0 1 1 *'), clock: systemClock, log, stop: stop.signal });
  const exchangeOff = async () => pauseOf(await readControlState(db.db), 'BTC/USDT', 'execution', Date.now())?.guard === 'exchange';
  try {
    await run({ ex, db, log, exchangeOff });
  } finally {
    stop.abort();
    await loop;
    await ex.close();
    await db.cleanup();
  }
}

test('exchange guard: maintenance turns execution off (audited by guard), normal again lifts it (audited), once each; the key never shows', async () => {
  await scene(false, async ({ ex, db, log, exchangeOff }) => {
    await until(() => ex.polls >= 2, 'two normal polls', 10_000);
    assert.equal(await exchangeOff(), false);
    ex.set({ status: 200, body: '{"status":1,"msg":"system_maintenance"}' });
    await until(exchangeOff, 'execution off for the maintenance', 10_000);
    const polled = ex.polls;
    await until(() => ex.polls >= polled + 3, 'three more polls in maintenance', 10_000);
    ex.set({ status: 200, body: '{"status":0,"msg":"normal"}' });
    await until(async () => !(await exchangeOff()), 'execution back on', 10_000);
    const audit = await queryAudit(db.db, undefined, 100);
    assert.deepEqual(audit.map((a) => [a.action, a.by]), [['guard', 'guard exchange'], ['guard_lifted', 'guard exchange']], 'one trip, one lift, whatever the polls');
    assert.match(audit[0]!.reason ?? '', /exchange in maintenance \(status=1: system_maintenance\)/);
    assert.equal(audit[0]!.args.url, ex.url.replace('SECRETKEY123', '***'));
    assert.ok(log.all().some((l) => /Guard exchange: execution OFF \(all symbols\)/.test(l)), log.all().join('\n'));
    assert.ok(!log.all().join('\n').includes('SECRETKEY123'), 'the query key is hidden in the log');
    assert.ok(!JSON.stringify(audit).includes('SECRETKEY123'), 'and in the audit');
  });
});

test('exchange guard: unreachable, timing out or answering garbage is a warning once per spell, never a silent "normal" lift', async () => {
  await scene(false, async ({ ex, db, log, exchangeOff }) => {
    ex.set({ status: 200, body: '{"status":1}' });
    await until(exchangeOff, 'execution off', 10_000);
    const before = log.all().length; // a poll slowed by the machine's load may have warned already: count from here
    for (const bad of [{ status: 200, body: '<html>oops</html>' }, { status: 502, body: 'bad gateway' }, { status: 200, body: '{"state":"ok"}' }] as const) {
      const polled = ex.polls;
      ex.set(bad);
      await until(() => ex.polls >= polled + 4, `four polls answered ${bad.body}`, 10_000);
    }
    assert.equal(await exchangeOff(), true, 'garbage is not "normal": execution stays off');
    const warnings = log.all().slice(before).filter((l) => l.includes('cannot be read'));
    // One warning for the whole spell (none here if a slow poll had already begun the spell just before).
    const spellBegunBefore = log.all().slice(0, before).some((l) => l.includes('cannot be read')) && !log.all().slice(0, before).some((l) => l.includes('read again'));
    assert.equal(warnings.length, spellBegunBefore ? 0 : 1, `one warning for the whole spell:\n${warnings.join('\n')}`);
    if (!spellBegunBefore) assert.match(warnings[0]!, /not JSON.*not taken as normal/);
    ex.set({ status: 200, body: '{"status":0}' });
    await until(async () => !(await exchangeOff()), 'lifted when readable and normal', 10_000);
    assert.ok(log.all().some((l) => l.includes('read again')));
    assert.deepEqual((await queryAudit(db.db, undefined, 100)).map((a) => a.action), ['guard', 'guard_lifted']);
  });
});

test('exchange guard: EXCHANGE_STATUS_FAIL_CLOSED counts three failed polls (here answers that never come, cut by the poll timeout) as maintenance', async () => {
  await scene(true, async ({ ex, db, exchangeOff }) => {
    await until(() => ex.polls >= 1, 'a first poll', 10_000);
    ex.set('hang');
    await until(exchangeOff, 'execution off after three failed polls', 15_000);
    const [trip] = await queryAudit(db.db, undefined, 100);
    assert.match(trip!.reason ?? '', /unreadable 3 times in a row .*no answer within 300 ms.*EXCHANGE_STATUS_FAIL_CLOSED/);
    assert.equal(trip!.args.failedPolls, 3);
    ex.set({ status: 200, body: '{"status":0}' });
    await until(async () => !(await exchangeOff()), 'lifted when the endpoint answers normal', 10_000);
  });
});
