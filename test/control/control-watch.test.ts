import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { watchControl } from '../../src/control/watch.ts';
import { applyControl } from '../../src/control/apply.ts';
import { queryAudit } from '../../src/control/control-store.ts';
import { CONTROL_POLL_MS, CONTROL_PUSHED_POLL_MS, type ControlState } from '../../src/control/state.ts';
import { CONNECT_TIMEOUT_MS } from '../../src/store/postgres/open.ts';
import { listenForControl } from '../../src/store/postgres/listen.ts';
import { systemClock, type Clock } from '../../src/time/clock.ts';
import { parseCronPattern } from '../../src/time/cron-pattern.ts';
import { pgAdmin, PG_URL, pgTest, tempDatabaseOn, type BackendName, type TestDatabase } from '../helpers/backends.ts';
import { captureLog } from '../helpers/capture-log.ts';
import { stillClock } from '../helpers/fast-clock.ts';
import { until } from '../helpers/wait.ts';

// The control watcher against a real database. Its clock never ends a sleep by itself (stillClock), so the watcher
// reads the state again only when something wakes it: on PostgreSQL, a NOTIFY of a committed change.

const hourly = (() => {
  const p = parseCronPattern('0 0 * * * *');
  if ('error' in p) throw new Error(p.error);
  return p.pattern;
})();

const change = { symbol: '*', args: {}, by: 'tester@host' };
const pauseAll = (t: TestDatabase, reason: string) => applyControl(t.db, { ...change, kind: 'pause', scope: 'cycles', reason, until: null, abort: false }, Date.now);
const resumeAll = (t: TestDatabase) => applyControl(t.db, { ...change, kind: 'resume', scope: 'cycles' }, Date.now);

/** A watcher on `t` whose polls never come by themselves; the states it heard, its log, how it waits; `stop` ends it. */
async function watcher(t: TestDatabase) {
  const clock = stillClock();
  const log = captureLog();
  const states: ControlState[] = [];
  const ending = new AbortController();
  const { loop } = await watchControl({
    db: t.db,
    owner: 'watcher-1',
    environment: hourly,
    clock,
    log,
    stop: ending.signal,
    changed: (s) => states.push(s),
    // The feed reconnects on the real clock: only the watcher's own polls are held still.
    changes: t.controlChanges && ((events) => t.controlChanges!(events, systemClock)),
  });
  const reasons = () => states.at(-1)?.pauses.map((p) => p.reason) ?? [];
  // Listening: the feed's first look woke the loop, which then waits the slower poll of a pushed feed.
  const listening = () => until(() => clock.sleeps.length >= 2 && clock.sleeps.at(-1) === CONTROL_PUSHED_POLL_MS, 'the feed to listen', 3000);
  return { clock, log, states, reasons, listening, stop: () => (ending.abort(), loop) };
}

test('[postgres] control changes are pushed: a pause and a resume each reach the watcher with no poll at all; it polls every second meanwhile', pgTest(), async () => {
  const t = await tempDatabaseOn('postgres');
  const w = await watcher(t);
  try {
    assert.deepEqual(w.reasons(), [], 'it starts in the state the database holds');
    assert.deepEqual(w.clock.sleeps, [CONTROL_POLL_MS], 'polling fast until the feed listens');
    await w.listening();
    await pauseAll(t, 'exchange down');
    await until(() => w.reasons()[0] === 'exchange down', 'the pause to be applied', 3000);
    await resumeAll(t);
    await until(() => w.reasons().length === 0 && w.states.length >= 3, 'the resume to be applied', 3000);
    // While changes are pushed, the safety-net poll waits CONTROL_PUSHED_POLL_MS (it never ended here).
    assert.deepEqual(w.clock.sleeps.slice(1), Array(w.clock.sleeps.length - 1).fill(CONTROL_PUSHED_POLL_MS));
    assert.deepEqual(w.log.all().filter((l) => /pushed/.test(l)), []);
  } finally {
    await w.stop();
    await t.cleanup();
  }
});

test('[postgres] a change in another schema of the same database wakes nobody here', pgTest(), async () => {
  const [mine, other] = [await tempDatabaseOn('postgres'), await tempDatabaseOn('postgres')];
  const w = await watcher(mine);
  try {
    await w.listening();
    await pauseAll(mine, 'first');
    await until(() => w.reasons()[0] === 'first', 'our own pause', 3000);
    const polls = w.clock.sleeps.length;
    await pauseAll(other, 'not ours');
    await resumeAll(other);
    // Our own next change is the marker: everything the other schema sent came before it.
    await resumeAll(mine);
    await until(() => w.reasons().length === 0, 'our own resume', 3000);
    assert.equal(w.clock.sleeps.length, polls + 1, 'one wake-up: ours');
  } finally {
    await w.stop();
    await mine.cleanup();
    await other.cleanup();
  }
});

test('[postgres] the listening connection killed: said once, listening again within a second, said once; a change made meanwhile is not lost', pgTest(), async () => {
  const t = await tempDatabaseOn('postgres');
  const w = await watcher(t);
  const schema = new URL(t.path).searchParams.get('options')!.split('=').at(-1)!;
  try {
    await w.listening();
    const killed = await pgAdmin(PG_URL, async (c) =>
      (await c.query<{ done: boolean }>(`select pg_terminate_backend(pid) as done from pg_stat_activity where application_name = $1`, [`pmf-scheduler listen ${schema}`])).rows,
    );
    assert.deepEqual(killed.map((r) => r.done), [true], 'one listener, ours');
    await until(() => w.log.all().some((l) => /Control changes are no longer pushed by the database/.test(l)), 'the loss to be said', 3000);
    // Made while nobody listens: announced to no one, so the watcher looks once when it listens again.
    await pauseAll(t, 'while deaf');
    await until(() => w.log.all().some((l) => /Control changes pushed by the database again/.test(l)), 'the feed to be back', 3000);
    await until(() => w.reasons()[0] === 'while deaf', 'the change made while deaf', 3000);
    await resumeAll(t);
    await until(() => w.reasons().length === 0, 'a change after the reconnect, pushed', 3000);
    const said = w.log.all().filter((l) => /pushed/.test(l));
    assert.equal(said.length, 2, said.join('\n'));
    assert.ok(said.some((l) => l.includes(`polling every ${CONTROL_POLL_MS} ms until they are`)), said.join('\n'));
  } finally {
    await w.stop();
    await t.cleanup();
  }
});

test('[sqlite] no push: the watcher polls every CONTROL_POLL_MS', async () => {
  const backend: BackendName = 'sqlite';
  const t = await tempDatabaseOn(backend);
  const w = await watcher(t);
  try {
    assert.equal(t.controlChanges, undefined);
    assert.deepEqual(w.clock.sleeps, [CONTROL_POLL_MS]);
  } finally {
    await w.stop();
    await t.cleanup();
  }
});

test('[sqlite] a pause that begins and ends between two reads: never applied, and the watcher says so instead of nothing', async () => {
  const t = await tempDatabaseOn('sqlite');
  const log = captureLog();
  // The watcher's waits end only when the test lets them: the pause comes and goes while it waits.
  const waits: (() => void)[] = [];
  const clock: Clock = {
    now: () => Date.now(),
    sleep: (_ms, signal) =>
      new Promise<void>((resolve) => {
        if (signal?.aborted) return resolve();
        waits.push(resolve);
        signal?.addEventListener('abort', () => resolve(), { once: true });
      }),
  };
  const states: ControlState[] = [];
  const ending = new AbortController();
  const { loop } = await watchControl({ db: t.db, owner: 'watcher-1', environment: hourly, clock, log, stop: ending.signal, changed: (s) => states.push(s) });
  try {
    const at = Date.now();
    await applyControl(t.db, { ...change, kind: 'pause', scope: 'cycles', reason: 'short', until: at + 1000, abort: false }, () => at);
    await resumeAll(t);
    const line = `[SCHEDULER] Control: paused (all symbols) by tester@host at ${new Date(at).toISOString()}: short; it ended before this agent read it, so it was never in force here`;
    await until(() => {
      for (const w of waits.splice(0)) w();
      return log.err.some((l) => l.endsWith(line));
    }, 'the watcher to read again and say so', 3000);
    assert.deepEqual(states.at(-1)?.pauses, [], 'nothing in force');
    assert.deepEqual(log.all().filter((l) => /Control: (paused|resumed) \(all symbols\)/.test(l) && !l.endsWith(line)), [], 'no line says it was paused or resumed here');
    const audit = await queryAudit(t.db, undefined, 10);
    assert.deepEqual(audit.map((e) => [e.action, e.applied.map((a) => a.owner)]), [['pause', ['watcher-1']], ['resume', ['watcher-1']]], 'both caught up with, as the audit says');
  } finally {
    ending.abort();
    for (const w of waits.splice(0)) w();
    await loop;
    await t.cleanup();
  }
});

test('the feed closed while its server takes the connection but never answers: close waits a second at most, not the connect timeout', async () => {
  // A black hole: accepts TCP and says nothing, as a partitioned or hung server would.
  const sockets = new Set<Socket>();
  const hole = createServer((s) => void sockets.add(s));
  await new Promise<void>((resolve) => hole.listen(0, '127.0.0.1', resolve));
  const url = `postgres://postgres@127.0.0.1:${(hole.address() as AddressInfo).port}/test`;
  const downs: unknown[] = [];
  const feed = listenForControl({ connectionString: url, connectionTimeoutMillis: CONNECT_TIMEOUT_MS }, 'public', { changed: () => {}, up: () => {}, down: (e) => downs.push(e) }, systemClock);
  try {
    await until(() => sockets.size === 1, 'the feed to connect');
    const started = performance.now();
    await feed.close();
    const took = performance.now() - started;
    assert.ok(took < 1500, `closed in ${took.toFixed(0)} ms (at most a second's wait; the connect timeout is ${CONNECT_TIMEOUT_MS} ms)`);
    assert.equal(feed.live, false);
    assert.deepEqual(downs, [], 'closing is no loss to report');
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => hole.close(() => resolve()));
  }
});
