import { test } from 'node:test';
import assert from 'node:assert/strict';
import { traceIdOf } from '../../src/records.ts';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'kysely';
import { matchesFilter, queryHistory } from '../../src/store/history/history-query.ts';
import { shortSummary } from '../../src/reports/render-history.ts';
import { BACKENDS, PG_URL, backendTest, tempDatabaseOn, type BackendName } from '../helpers/backends.ts';
import { CLI_PATH, spawnCli } from '../helpers/cli-process.ts';
import { runMain } from '../helpers/run-main.ts';
import { startDiegoStub } from '../helpers/diego-stub.ts';
import { seedCycle } from '../helpers/seed-history.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { until, within } from '../helpers/wait.ts';

// Every test that reads a database runs against SQLite and PostgreSQL (each test in a schema of its own).

const MIN = 60_000;
const HOUR = 3_600_000;
// Rows are placed relative to the real now, since `--since 2h` means two hours before the real now.
const NOW = Math.floor(Date.now() / MIN) * MIN;

/** A database with six cycles, one an hour apart going back from NOW, of two symbols and every ending. */
async function sixCycles(backend: BackendName) {
  const t = await tempDatabaseOn(backend);
  const ids: Record<string, number> = {};
  ids.ok = await seedCycle(t.db, { scheduledAt: NOW - 1 * HOUR });
  ids.failed = await seedCycle(t.db, {
    scheduledAt: NOW - 2 * HOUR,
    status: 'failed',
    attempts: [
      { outcome: 'http_error', httpStatus: 503, error: 'HTTP 503: overloaded', durationMs: 40, excerpt: '{"error":"overloaded"}' },
      { outcome: 'timeout', httpStatus: null, error: 'timeout after 20000 ms', durationMs: 20_000 },
    ],
    reason: 'timeout',
    error: 'timeout after 20000 ms',
  });
  ids.eth = await seedCycle(t.db, { scheduledAt: NOW - 3 * HOUR, symbol: 'ETH/USDT' });
  ids.skipped = await seedCycle(t.db, { scheduledAt: NOW - 4 * HOUR, status: 'skipped', reason: 'overlap', error: 'previous cycle still running' });
  ids.interrupted = await seedCycle(t.db, { scheduledAt: NOW - 5 * HOUR, status: 'interrupted', attempts: [{ outcome: 'aborted' }], reason: 'shutdown', error: 'interrupted by shutdown' });
  ids.startup = await seedCycle(t.db, { scheduledAt: NOW - 6 * HOUR + 1234, trigger: 'startup' });
  return { ...t, ids };
}

const idsOf = (json: string) => (JSON.parse(json) as { id: number }[]).map((c) => c.id);

for (const backend of BACKENDS) {
  test(`[${backend}] history: a table newest first with id, symbol, time, status, attempts, duration, HTTP status, replica and summary`, backendTest(backend), async () => {
    const t = await sixCycles(backend);
    try {
      const r = await runMain(['history', '--db', t.path]);
      assert.equal(r.code, 0);
      assert.deepEqual(r.err, []);
      const lines = r.text.split('\n');
      assert.match(lines[0]!, /^cycle\s+symbol\s+scheduled \(UTC\)\s+status\s+att\s+duration\s+http\s+replica\s+summary$/);
      const rows = lines.slice(1, 7);
      assert.deepEqual(
        rows.map((l) => Number(/#(\d+)/.exec(l)![1])),
        [t.ids.ok, t.ids.failed, t.ids.eth, t.ids.skipped, t.ids.interrupted, t.ids.startup],
      );
      const utc = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
      assert.match(rows[0]!, new RegExp(`#${t.ids.ok}\\s+BTC/USDT\\s+${utc(NOW - HOUR)}\\s+succeeded\\s+1\\s+200 ms\\s+200\\s+test-host:1\\s+BUY 0.8 @ 97000 · placed o-1 buy 0.001$`));
      assert.match(rows[1]!, /failed\s+2\s+20 s\s+-\s+test-host:1\s+timeout: timeout after 20000 ms$/);
      assert.match(rows[2]!, /ETH\/USDT/);
      assert.match(rows[3]!, /skipped\s+0\s+0 ms\s+-\s+test-host:1\s+overlap: previous cycle still running$/);
      assert.match(rows[4]!, /interrupted\s+1/);
      assert.match(rows[5]!, /\* +succeeded/, 'a startup cycle is marked');
      assert.match(lines[7]!, /\* run on start/);
      assert.equal(r.text.includes('\x1b['), false, 'no colour without a TTY');

      const tty = await runMain(['history', '--db', t.path], {}, { tty: true });
      assert.ok(tty.text.includes('\x1b[32msucceeded'), 'succeeded in green on a terminal');
      assert.ok(tty.text.includes('\x1b[31mfailed'), 'failed in red');
      const noColor = await runMain(['history', '--db', t.path], { NO_COLOR: '1' }, { tty: true });
      assert.equal(noColor.text.includes('\x1b['), false, 'NO_COLOR wins');
    } finally {
      await t.cleanup();
    }
  });

  test(`[${backend}] history filters: --limit, --status, --symbol, --since, --until (relative and ISO), combined`, backendTest(backend), async () => {
    const t = await sixCycles(backend);
    try {
      const run = async (...args: string[]) => {
        const r = await runMain(['history', '--json', '--db', t.path, ...args]);
        assert.equal(r.code, 0, r.err.join('\n'));
        return idsOf(r.text);
      };
      const { ok, failed, eth, skipped, interrupted, startup } = t.ids;
      assert.deepEqual(await run(), [ok, failed, eth, skipped, interrupted, startup]);
      assert.deepEqual(await run('--limit', '2'), [ok, failed]);
      assert.deepEqual(await run('--limit=1'), [ok]);
      assert.deepEqual(await run('--status', 'failed'), [failed]);
      assert.deepEqual(await run('--status', 'skipped'), [skipped]);
      assert.deepEqual(await run('--status', 'interrupted'), [interrupted]);
      assert.deepEqual(await run('--status', 'running'), []);
      assert.deepEqual(await run('--symbol', 'ETH/USDT'), [eth]);
      assert.deepEqual(await run('--symbol', 'BTC/USDT', '--status', 'succeeded'), [ok, startup]);
      assert.deepEqual(await run('--since', '190m'), [ok, failed, eth]);
      assert.deepEqual(await run('--since', '150m', '--until', '90m'), [failed]);
      assert.deepEqual(await run('--since', new Date(NOW - 4 * HOUR).toISOString(), '--until', new Date(NOW - 2 * HOUR).toISOString()), [eth, skipped], 'since inclusive, until exclusive');
      assert.deepEqual(await run('--until', new Date(NOW - 5 * HOUR).toISOString(), '--limit', '5'), [startup]);
      assert.deepEqual(await run('--since', '1d', '--status', 'succeeded', '--limit', '2'), [ok, eth]);
      const empty = await runMain(['history', '--db', t.path, '--status', 'running']);
      assert.deepEqual([empty.code, empty.out], [0, ['No cycles match these filters']]);
    } finally {
      await t.cleanup();
    }
  });

  test(`[${backend}] history --json: an array of cycles with the documented fields, times in ISO 8601`, backendTest(backend), async () => {
    const t = await sixCycles(backend);
    try {
      const r = await runMain(['history', '--json', '--limit', '2', '--db', t.path]);
      assert.equal(r.code, 0);
      const [ok, failed] = JSON.parse(r.text);
      assert.deepEqual(ok, {
        id: t.ids.ok,
        symbol: 'BTC/USDT',
        timeframe: '1m',
        trigger: 'schedule',
        scheduledAt: new Date(NOW - HOUR).toISOString(),
        startedAt: new Date(NOW - HOUR + 2).toISOString(),
        finishedAt: new Date(NOW - HOUR + 202).toISOString(),
        status: 'succeeded',
        attempts: 1,
        durationMs: 200,
        httpStatus: 200,
        reason: null,
        error: null,
        summary: 'BUY 0.8 @ 97000 · placed o-1 buy 0.001',
        executed: true,
        owner: 'test-host:1',
        executionOff: null,
        idempotencyKey: `key-BTC/USDT-schedule-${NOW - HOUR}`,
        traceId: traceIdOf(`key-BTC/USDT-schedule-${NOW - HOUR}`), // a seeded key is no UUID: hashed to a trace id's shape
      });
      assert.equal(failed.status, 'failed');
      assert.equal(failed.reason, 'timeout');
      assert.equal(failed.error, 'timeout after 20000 ms');
      assert.equal(failed.executed, false);
      assert.equal(failed.durationMs, 20_040);
    } finally {
      await t.cleanup();
    }
  });

  test(`[${backend}] history --cycle ID: one cycle with every attempt (number, start, duration, outcome, HTTP status, error, request id, excerpt)`, backendTest(backend), async () => {
    const t = await sixCycles(backend);
    try {
      const r = await runMain(['history', '--cycle', String(t.ids.failed), '--db', t.path]);
      assert.equal(r.code, 0, r.err.join('\n'));
      assert.match(r.text.split('\n')[0]!, new RegExp(`^Cycle #${t.ids.failed}  BTC/USDT 1m  \\(schedule\\)$`));
      const text = r.text;
      assert.match(text, /status\s+failed \(timeout\)/);
      assert.match(text, /attempts\s+2/);
      assert.match(text, /^   #  started \(UTC\)            duration  outcome     http  request$/m);
      assert.match(text, /^  1\.  \S+ \S+\s+40 ms  http_error   503  req-\d+-1$/m);
      assert.match(text, /error\s+HTTP 503: overloaded/);
      assert.match(text, /response \{"error":"overloaded"\}/);
      assert.match(text, /^  2\.  \S+ \S+\s+20 s  timeout        -  req-\d+-2$/m);
      // Aligned: each column starts at the same place on every attempt line, whatever the outcome or a missing status.
      const rows = text.split('\n').filter((l) => /^ +(#|\d\.) /.test(l));
      for (const word of [/started|\d{4}-/, /outcome|http_error|timeout/, /request|req-/]) assert.equal(new Set(rows.map((l) => l.search(word))).size, 1, `${word}\n${rows.join('\n')}`);
      assert.match(text, /error\s+timeout after 20000 ms/);

      const json = await runMain(['history', '--cycle', String(t.ids.failed), '--json', '--db', t.path]);
      const body = JSON.parse(json.text);
      assert.deepEqual(Object.keys(body), ['cycle', 'attempts']);
      assert.equal(body.cycle.id, t.ids.failed);
      assert.deepEqual(body.attempts[0], {
        number: 1,
        requestId: `req-${NOW - 2 * HOUR}-1`,
        startedAt: new Date(NOW - 2 * HOUR + 2).toISOString(),
        finishedAt: new Date(NOW - 2 * HOUR + 42).toISOString(),
        durationMs: 40,
        outcome: 'http_error',
        httpStatus: 503,
        error: 'HTTP 503: overloaded',
        responseExcerpt: '{"error":"overloaded"}',
      });
      assert.equal(body.attempts[1].outcome, 'timeout');

      const missing = await runMain(['history', '--cycle', '99999', '--db', t.path]);
      assert.deepEqual([missing.code, missing.out], [1, []]);
      assert.match(missing.err.join('\n'), /^pmf-scheduler: No cycle #99999 in /);

      const combined = await runMain(['history', '--cycle', '1', '--status', 'failed', '--db', t.path]);
      assert.equal(combined.code, 2);
      assert.deepEqual(combined.err, ['pmf-scheduler: --cycle shows one cycle: it does not combine with --status']);
    } finally {
      await t.cleanup();
    }
  });

  test(`[${backend}] history on a missing database: exit 2, one line, and the file (or database) is not created`, backendTest(backend), async () => {
    const t = tempDir();
    try {
      const path = backend === 'sqlite' ? join(t.dir, 'nothing-here.db') : PG_URL.replace(/\/test$/, '/nothing_here_db');
      for (const argv of [['history', '--db', path], ['history', '--json'], ['history', '--cycle', '1', '--db', path]]) {
        const r = await runMain(argv, { DATABASE_URL: path });
        assert.equal(r.code, 2, argv.join(' '));
        assert.deepEqual(r.out, []);
        assert.equal(r.err.length, 1);
        assert.match(r.err[0]!, /^pmf-scheduler: Database .*nothing[-_]here[._]db does not exist \(set DATABASE_URL or --db\)$/);
        assert.equal(existsSync(path), false);
      }
    } finally {
      t.cleanup();
    }
  });

  test(`[${backend}] history on an empty database: "No cycles yet" (and [] with --json); on a database without our tables: exit 2`, backendTest(backend), async () => {
    const t = await tempDatabaseOn(backend);
    const other = await tempDatabaseOn(backend);
    try {
      const r = await runMain(['history', '--db', t.path]);
      assert.equal(r.code, 0);
      assert.match(r.text, /^No cycles yet in /);
      const json = await runMain(['history', '--json', '--db', t.path]);
      assert.deepEqual([json.code, JSON.parse(json.text)], [0, []]);

      // A database that is not ours (or predates the schema): one line saying what to do, exit 2.
      await sql`DROP VIEW attempts_v`.execute(other.db);
      await sql`DROP VIEW cycles_v`.execute(other.db);
      await sql`DROP TABLE attempts`.execute(other.db);
      await sql`DROP TABLE cycles`.execute(other.db);
      await other.close();
      const bad = await runMain(['history', '--db', other.path]);
      assert.equal(bad.code, 2);
      assert.equal(bad.err.length, 1);
      assert.match(bad.err[0]!, /lacks the history tables or is on an older schema.*pmf-scheduler migrate/);
    } finally {
      await t.cleanup();
      await other.cleanup();
    }
  });

  test(`[${backend}] history bad arguments: each exits 2 with one line naming the option, its value and what is expected`, backendTest(backend), async () => {
    const t = await tempDatabaseOn(backend);
    try {
      const cases: [string[], RegExp][] = [
        [['--limit', 'abc'], /^pmf-scheduler: Invalid --limit "abc": expected an integer from 1 to 100000$/],
        [['--limit', '0'], /Invalid --limit "0"/],
        [['--limit', '1e3'], /Invalid --limit "1e3"/],
        [['--since', 'yesterday'], /^pmf-scheduler: Invalid --since "yesterday": expected a time such as 2h or 7d \(that long ago\), now, or an ISO time/],
        [['--until', '2024-13-45'], /Invalid --until "2024-13-45"/],
        [['--since', '1h', '--until', '2h'], /Invalid --since\/--until: .* is not before /],
        [['--status', 'nope'], /^pmf-scheduler: Invalid --status "nope": expected one of succeeded, failed, skipped, interrupted, running$/],
        [['--cycle', 'x'], /Invalid --cycle "x": expected an integer/],
        [['--symbol', ''], /Invalid --symbol "": expected a value/],
        [['--limit'], /value is missing/],
        [['--bogus'], /Unknown option `--bogus`/],
      ];
      for (const [args, says] of cases) {
        const r = await runMain(['history', '--db', t.path, ...args]);
        assert.equal(r.code, 2, args.join(' '));
        assert.deepEqual(r.out, [], args.join(' '));
        assert.equal(r.err.length, 1, `${args.join(' ')}: ${r.err.join(' | ')}`);
        assert.match(r.err[0]!, says);
      }
    } finally {
      await t.cleanup();
    }
  });

  test(`[${backend}] history reads while a writer holds a write transaction open (read-only connection, WAL)`, backendTest(backend), async () => {
    const t = await sixCycles(backend);
    try {
      await t.db.transaction().execute(async (tx) => {
        await seedCycle(tx, { scheduledAt: NOW - 10 * MIN });
        // Not committed yet: the reader sees the six committed cycles and is not blocked.
        const r = await within(runMain(['history', '--json', '--db', t.path]), 3000, 'history beside a writer');
        assert.equal(r.code, 0, r.err.join('\n'));
        assert.equal(idsOf(r.text).length, 6);
      });
      const after = await runMain(['history', '--json', '--limit', '1', '--db', t.path]);
      assert.equal(idsOf(after.text).length, 1);
      assert.equal(JSON.parse(after.text)[0].scheduledAt, new Date(NOW - 10 * MIN).toISOString());
    } finally {
      await t.cleanup();
    }
  });

  test(`[${backend}] history query: newest slot first, ties by id; the limit applies after the filters`, backendTest(backend), async () => {
    const t = await tempDatabaseOn(backend);
    try {
      const a = await seedCycle(t.db, { scheduledAt: 1000, symbol: 'A/B' });
      const b = await seedCycle(t.db, { scheduledAt: 1000, symbol: 'C/D' });
      const c = await seedCycle(t.db, { scheduledAt: 2000, symbol: 'A/B', status: 'failed' });
      assert.deepEqual((await queryHistory(t.db, { limit: 10 })).map((v) => v.id), [c, b, a]);
      assert.deepEqual((await queryHistory(t.db, { limit: 1, symbol: 'A/B', status: 'succeeded' })).map((v) => v.id), [a]);
    } finally {
      await t.cleanup();
    }
  });
}

test('the short summary: signal and execution of an answer, else reason and error', () => {
  const base = { id: 1, symbol: 'X/Y', timeframe: '1m', trigger: 'schedule' as const, scheduledAt: 0, startedAt: 0, finishedAt: 1, attempts: 1, durationMs: 1, httpStatus: 200, executed: false, owner: 'h:1', executionOff: null };
  assert.equal(shortSummary({ ...base, status: 'succeeded', reason: null, error: null, summary: 'HOLD 0.5 · none signal HOLD' }), 'HOLD 0.5 · none signal HOLD');
  assert.equal(shortSummary({ ...base, status: 'failed', reason: 'deadline', error: 'the next slot came first', summary: null }), 'deadline: the next slot came first');
  assert.equal(shortSummary({ ...base, status: 'failed', reason: 'deadline', error: 'deadline: the next slot came first', summary: null }), 'deadline: the next slot came first', 'said once');
  assert.equal(shortSummary({ ...base, status: 'running', reason: null, error: null, summary: null }), 'running');
  assert.equal(
    shortSummary({ ...base, status: 'succeeded', reason: null, error: null, summary: 'BUY 0.8 · none', executionOff: 'execution paused by ops: exchange down' }),
    '[analysis only: execution paused by ops: exchange down] BUY 0.8 · none',
    'a cycle sent with execution off says so first',
  );
});

for (const backend of BACKENDS) {
  test(`[${backend}] the built CLI: history --json in a real process, and a missing database exits 2 without creating it`, backendTest(backend), async () => {
    const t = await sixCycles(backend);
    const dir = tempDir();
    try {
      const ok = spawnCli(['history', '--json', '--limit', '3'], { DATABASE_URL: t.path });
      const done = await within(ok.exited, 10_000, 'history to exit');
      assert.equal(done.code, 0, ok.stderr.join('\n'));
      assert.deepEqual(idsOf(ok.stdout.join('\n')), [t.ids.ok, t.ids.failed, t.ids.eth]);

      const path = backend === 'sqlite' ? join(dir.dir, 'missing.db') : PG_URL.replace(/\/test$/, '/missing_db');
      const bad = spawnCli(['history', '--db', path], {});
      assert.equal((await within(bad.exited, 10_000, 'history to exit')).code, 2, bad.stderr.join('\n'));
      assert.equal(bad.stderr.filter(Boolean).length, 1, bad.stderr.join('\n'));
      assert.equal(existsSync(path), false);
    } finally {
      await t.cleanup();
      dir.cleanup();
    }
  });
}

test('history against a PostgreSQL server that does not answer: exit 1 (a runtime failure), one line, the password hidden', async () => {
  const r = await runMain(['history', '--db', 'postgres://pmf:s3cret-pw@127.0.0.1:1/pmf']);
  assert.equal(r.code, 1);
  assert.deepEqual(r.out, []);
  assert.equal(r.err.length, 1);
  assert.match(r.err[0]!, /^pmf-scheduler: Cannot reach PostgreSQL at postgres:\/\/pmf:\*\*\*@127\.0\.0\.1:1\/pmf: .*ECONNREFUSED/);
});

/** Runs the built CLI on a real pseudo-terminal (`script`) of `columns` columns; its output as the terminal got it. */
function onTerminal(args: string[], env: Record<string, string>, columns: number): string {
  const command = `stty cols ${columns} rows 50; ${[process.execPath, CLI_PATH, ...args].map((a) => `'${a}'`).join(' ')}`;
  return execFileSync('script', ['-qec', command, '/dev/null'], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 10_000 }).replaceAll('\r', '');
}

test('history on a terminal: every row fits its width (the summary is cut, not wrapped); colour unless TERM=dumb or NO_COLOR', async () => {
  const t = await tempDatabaseOn('sqlite');
  try {
    await seedCycle(t.db, { scheduledAt: NOW - HOUR, status: 'failed', reason: 'http_error', error: `HTTP 502: ${'upstream exchange API answered with an error page '.repeat(4)}` });
    await seedCycle(t.db, { scheduledAt: NOW - 2 * HOUR });
    const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');
    for (const columns of [80, 120]) {
      const out = onTerminal(['history', '--db', t.path], { TERM: 'xterm-256color' }, columns);
      const lines = out.split('\n').filter(Boolean);
      assert.equal(lines.length, 3, out);
      for (const l of lines) assert.ok(plain(l).length <= columns, `${plain(l).length} > ${columns}: ${plain(l)}`);
      assert.match(plain(lines[1]!), /http_error: HTT.*…$/, 'the summary is cut with an ellipsis');
      assert.match(out, /\x1b\[/, 'colours on a terminal');
    }
    assert.doesNotMatch(onTerminal(['history', '--db', t.path], { TERM: 'dumb' }, 80), /\x1b/, 'TERM=dumb: no escape codes');
    assert.doesNotMatch(onTerminal(['history', '--db', t.path], { TERM: 'xterm', NO_COLOR: '1' }, 80), /\x1b/, 'NO_COLOR: no escape codes');
    // Not a terminal (a pipe): nothing is cut to a width.
    const piped = spawnCli(['history', '--db', t.path], {});
    await within(piped.exited, 10_000, 'history to exit');
    assert.ok(piped.stdout.some((l) => l.length > 120 && !l.includes('\x1b')), piped.stdout.join('\n'));
  } finally {
    await t.cleanup();
  }
});

test('history --follow (the built CLI beside a running agent): the newest cycles, then each one as it ends, aligned under one header; --json one object per line; Ctrl-C ends it with 0', async () => {
  const dir = tempDir();
  const db = join(dir.dir, 'h.db');
  const stub = await startDiegoStub([{ status: 200 }]);
  const agent = spawnCli(['run'], { DIEGO_URL: stub.url, MIGUEL_URL: '', WAIT_FOR_READY: 'false', DATABASE_URL: db, CRON_PATTERN: '* * * * * *', RUN_ON_START: 'false' });
  const followers: ReturnType<typeof spawnCli>[] = [];
  try {
    await agent.line(/Scalping cycle completed successfully/, 15_000);
    const text = spawnCli(['history', '--follow', '--db', db], {});
    const json = spawnCli(['history', '--follow', '--json', '--db', db], {});
    followers.push(text, json);
    const rows = () => text.stdout.filter((l) => /^ +#\d+ /.test(l));
    const first = await text.line(/^ +#\d+ /, 10_000).then(() => rows().length);
    await until(() => rows().length >= first + 3, 'three more cycles to be printed as they end', 15_000);
    await until(() => json.stdout.filter(Boolean).length >= first + 3, 'the same as JSON lines', 15_000);

    assert.match(text.stdout[0]!, /^cycle +symbol +scheduled \(UTC\) +status +att +duration +http +replica +summary$/);
    const ids = rows().map((l) => Number(/#(\d+)/.exec(l)![1]));
    assert.deepEqual(ids, [...ids].sort((a, b) => a - b), 'oldest first, new ones at the bottom');
    assert.equal(new Set(ids).size, ids.length, 'each cycle once');
    assert.equal(new Set([text.stdout[0]!.search(/symbol/), ...rows().map((l) => l.search(/BTC\/USDT/))]).size, 1, `aligned\n${text.stdout.join('\n')}`);
    assert.equal(new Set(rows().map((l) => l.search(/succeeded/))).size, 1, `aligned\n${text.stdout.join('\n')}`);
    const objects = json.stdout.filter(Boolean).map((l) => JSON.parse(l) as { id: number; status: string });
    assert.ok(objects.every((o) => o.status === 'succeeded' && typeof o.id === 'number'));

    for (const f of followers) f.kill('SIGINT');
    for (const f of followers) assert.equal((await within(f.exited, 5_000, 'history --follow to stop')).code, 0);
  } finally {
    for (const f of followers) f.kill('SIGKILL');
    agent.kill('SIGTERM');
    await within(agent.exited, 10_000, 'the agent to stop').catch(() => agent.kill('SIGKILL'));
    await stub.close();
    dir.cleanup();
  }
});

test('what --follow prints of the cycles that end is what the query selects, for every filter it takes (trigger included)', async () => {
  const db = await tempDatabaseOn('sqlite');
  try {
    const T = Date.UTC(2026, 0, 5, 10, 0, 0);
    const shapes = [
      { trigger: 'schedule', status: 'succeeded', symbol: 'BTC/USDT' },
      { trigger: 'manual', status: 'failed', symbol: 'BTC/USDT' },
      { trigger: 'startup', status: 'skipped', symbol: 'ETH/USDT' },
      { trigger: 'manual', status: 'succeeded', symbol: 'ETH/USDT' },
    ] as const;
    for (let i = 0; i < 12; i++) await seedCycle(db.db, { scheduledAt: T + i * 60_000, ...shapes[i % shapes.length]! });
    const all = await queryHistory(db.db, { limit: 100 });
    for (const f of [{ trigger: 'manual' }, { status: 'failed' }, { status: 'succeeded', symbol: 'ETH/USDT' }, { since: T + 5 * 60_000 }, { until: T + 3 * 60_000 }, { trigger: 'startup', since: T }] as const) {
      const selected = (await queryHistory(db.db, { limit: 100, ...f })).map((v) => v.id);
      assert.deepEqual(all.filter((v) => matchesFilter(v, f)).map((v) => v.id), selected, JSON.stringify(f));
      assert.ok(selected.length > 0 && selected.length < all.length, JSON.stringify(f));
    }
  } finally {
    await db.cleanup();
  }
});

test('history --follow does not combine with --cycle, --until or --key: exit 2, one line', async () => {
  for (const [args, line] of [
    [['--cycle', '1'], 'pmf-scheduler: --follow prints cycles as they end: it does not combine with --cycle'],
    [['--until', '1h'], 'pmf-scheduler: --follow prints cycles as they end: it does not combine with --until'],
    [['--key', '0b6f7c1e-4a2d-4c8e-9f10-2a3b4c5d6e7f'], 'pmf-scheduler: --follow prints cycles as they end: it does not combine with --key'],
  ] as const) {
    const r = await runMain(['history', '--follow', ...args, '--db', '/nonexistent/h.db']);
    assert.deepEqual([r.code, r.err], [2, [line]]);
  }
});
