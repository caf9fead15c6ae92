// Whole-process timings of the read commands on a large history: builds a database of ~1,000,000 attempts (about two
// years at the default every-minute schedule) with one bulk SQL load into the migrated schema, laid out as the agent
// writes it (UUIDs as 16-byte blobs, no body kept for an ok answer), then runs the real CLI (`node dist/src/cli.js …`)
// several times per command and prints the median and the spread. Each command runs twice over: on dist/ as tsc
// builds it, and with kysely bundled into dist/node_modules (scripts/bundle-kysely.mjs), which spares Node 20 loading
// its ~300 ES modules one by one; dist/ is left as it was found.
//   npm run bench:queries [-- --runs 9] [--attempts 1000000] [--keep]
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { openDatabase } from '../src/store/open.ts';
import { intFlag } from './lib/args.ts';
import { medianSpread } from './lib/stats.ts';
import { renderTable } from './lib/table.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const cli = join(root, 'dist/src/cli.js');
const argv = process.argv.slice(2);
const runs = intFlag(argv, 'runs', 7);
const targetAttempts = intFlag(argv, 'attempts', 1_000_000);
const keep = argv.includes('--keep');

const MINUTE = 60_000;
// Per 1,000 cycles: 20 fail after 3 timeouts, 30 succeed on a second attempt after a 503: 1.07 attempts a cycle.
const ATTEMPTS_PER_CYCLE = 1.07;
// What the agent keeps of a successful answer (src/diego-response.ts briefOf); its body is not kept (issue #3).
const SUMMARY = 'BUY 0.82 @ 97012.5 · placed sim-3 buy 0.001';

/** Fills the migrated schema with `cycles` every-minute cycles ending now, and their attempts, in a few statements. */
async function build(path: string, cycles: number): Promise<void> {
  const database = await openDatabase({ kind: 'sqlite', path });
  const db = database.db;
  const start = Math.floor(Date.now() / MINUTE) * MINUTE - cycles * MINUTE;
  const s = sql.lit(start);
  // i % 50 = 7: failed (3 timeouts); i % 33 = 5: succeeded on attempt 2 (after a 503); else succeeded at once.
  await sql`
    WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < ${sql.lit(cycles - 1)})
    INSERT INTO cycles (id, symbol, timeframe, trigger, scheduled_at, deadline_at, started_at, finished_at, status, attempts,
                        reason, error, http_status, summary, executed, idempotency_key, owner)
    SELECT i + 1, 'BTC/USDT', '1m', 'schedule', ${s} + i * 60000, ${s} + (i + 1) * 60000, ${s} + i * 60000 + 1 + (i % 5),
      ${s} + i * 60000 + CASE WHEN i % 50 = 7 THEN 50000 WHEN i % 33 = 5 THEN 5600 ELSE 200 + (i * 7919) % 400 END,
      CASE WHEN i % 50 = 7 THEN 'failed' ELSE 'succeeded' END,
      CASE WHEN i % 50 = 7 THEN 3 WHEN i % 33 = 5 THEN 2 ELSE 1 END,
      CASE WHEN i % 50 = 7 THEN 'timeout' END,
      CASE WHEN i % 50 = 7 THEN 'timeout after 20000 ms' END,
      CASE WHEN i % 50 = 7 THEN NULL ELSE 200 END,
      CASE WHEN i % 50 = 7 THEN NULL ELSE ${SUMMARY} END,
      CASE WHEN i % 50 = 7 THEN 0 ELSE i % 3 = 0 END,
      randomblob(16), 'bench-host:1'
    FROM seq`.execute(db);
  // Attempt 1 of every cycle, then attempt 2 of retried and failed cycles, then attempt 3 of failed ones.
  await sql`
    INSERT INTO attempts (cycle_id, number, request_id, started_at, finished_at, duration_ms, outcome, http_status, error, response_excerpt)
    SELECT id, 1, randomblob(16), started_at,
      started_at + CASE WHEN status = 'failed' THEN 20000 WHEN attempts = 2 THEN 120 ELSE finished_at - started_at END,
      CASE WHEN status = 'failed' THEN 20000 WHEN attempts = 2 THEN 120 ELSE finished_at - started_at END,
      CASE WHEN status = 'failed' THEN 'timeout' WHEN attempts = 2 THEN 'http_error' ELSE 'ok' END,
      CASE WHEN status = 'failed' THEN NULL WHEN attempts = 2 THEN 503 ELSE 200 END,
      CASE WHEN status = 'failed' THEN 'timeout after 20000 ms' WHEN attempts = 2 THEN 'HTTP 503: overloaded' END,
      CASE WHEN status = 'failed' THEN NULL WHEN attempts = 2 THEN '{"error":"overloaded"}' END
    FROM cycles`.execute(db);
  await sql`
    INSERT INTO attempts (cycle_id, number, request_id, started_at, finished_at, duration_ms, outcome, http_status, error, response_excerpt)
    SELECT id, 2, randomblob(16), started_at + 5120,
      CASE WHEN status = 'failed' THEN started_at + 25120 ELSE finished_at END,
      CASE WHEN status = 'failed' THEN 20000 ELSE finished_at - started_at - 5120 END,
      CASE WHEN status = 'failed' THEN 'timeout' ELSE 'ok' END,
      CASE WHEN status = 'failed' THEN NULL ELSE 200 END,
      CASE WHEN status = 'failed' THEN 'timeout after 20000 ms' END,
      NULL
    FROM cycles WHERE attempts >= 2`.execute(db);
  await sql`
    INSERT INTO attempts (cycle_id, number, request_id, started_at, finished_at, duration_ms, outcome, http_status, error, response_excerpt)
    SELECT id, 3, randomblob(16), started_at + 30000, started_at + 50000, 20000, 'timeout', NULL, 'timeout after 20000 ms', NULL
    FROM cycles WHERE attempts = 3`.execute(db);
  // Half an hour of downtime six hours ago, so `stats` has missed slots to find.
  const gapEnd = Math.floor(Date.now() / MINUTE) * MINUTE - 6 * 60 * MINUTE;
  await sql`DELETE FROM attempts WHERE cycle_id IN (SELECT id FROM cycles WHERE scheduled_at >= ${sql.lit(gapEnd - 30 * MINUTE)} AND scheduled_at < ${sql.lit(gapEnd)})`.execute(db);
  await sql`DELETE FROM cycles WHERE scheduled_at >= ${sql.lit(gapEnd - 30 * MINUTE)} AND scheduled_at < ${sql.lit(gapEnd)}`.execute(db);
  const now = Date.now();
  await db
    .insertInto('agents')
    .values({ owner: 'bench-host:1', host: 'bench-host', pid: 1, version: 'bench', cron_pattern: '0 * * * * *', symbols: 'BTC/USDT', started_at: now - 3_600_000, heartbeat_at: now })
    .execute();
  await sql`PRAGMA wal_checkpoint(TRUNCATE)`.execute(db);
  await sql`ANALYZE`.execute(db);
  await database.close();
}

/** Wall time of one whole `node dist/src/cli.js …` process, in ms; the command must succeed. */
function timeOnce(args: readonly string[]): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  const ms = performance.now() - t0;
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited ${r.status}: ${r.stderr || r.stdout}`);
  return ms;
}

const tmp = mkdtempSync(join(tmpdir(), 'pmf-bench-queries-'));
const path = join(tmp, 'history.db');
try {
  const cycles = Math.round(targetAttempts / ATTEMPTS_PER_CYCLE);
  const t0 = performance.now();
  await build(path, cycles);
  const check = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  const counts = await sql<{ cycles: number; attempts: number }>`SELECT (SELECT count(*) FROM cycles) AS cycles, (SELECT count(*) FROM attempts) AS attempts`.execute(check.db);
  await check.close();
  const { cycles: nCycles, attempts: nAttempts } = counts.rows[0]!;
  const mib = statSync(path).size / 2 ** 20;
  process.stdout.write(`Built ${path}: ${nCycles} cycles, ${nAttempts} attempts, ${mib.toFixed(0)} MiB, in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
  process.stdout.write(`Node ${process.version}; ${runs} runs per command (3 for the whole history), whole process (spawn to exit), ms: median (min–max)\n\n`);

  const db = ['--db', path];
  // [label, args, runs]: the whole-history stats is slow enough that three runs tell enough.
  const commands: [string, string[], number?][] = [
    ['node -e 0 (Node start-up alone)', ['-e', '0']],
    ['--version', ['--version']],
    ['history', ['history', ...db]],
    ['history --status failed --limit 50', ['history', '--status', 'failed', '--limit', '50', ...db]],
    ['history --symbol BTC/USDT --since 7d', ['history', '--symbol', 'BTC/USDT', '--since', '7d', ...db]],
    // The worst case of the time-leading slot key: a symbol with no row at all is looked for through every entry.
    ['history --symbol ETH/USDT (no rows)', ['history', '--symbol', 'ETH/USDT', ...db]],
    ['history --status interrupted (no rows)', ['history', '--status', 'interrupted', ...db]],
    ['history --cycle 12345', ['history', '--cycle', '12345', ...db]],
    ['history --json --limit 100', ['history', '--json', '--limit', '100', ...db]],
    ['stats (24h)', ['stats', ...db]],
    ['stats --json', ['stats', '--json', ...db]],
    ['stats --window 7d', ['stats', '--window', '7d', ...db]],
    ['stats --window all', ['stats', '--window', 'all', ...db], Math.min(runs, 3)],
    ['healthcheck --max-failures 5', ['healthcheck', '--max-age', '1h', '--max-failures', '5', ...db]],
  ];
  const measure = () =>
    commands.map(([, args, times]) => {
      const samples: number[] = [];
      for (let i = 0; i < (times ?? runs); i++) {
        if (args[0] === '-e') {
          const t = performance.now();
          spawnSync(process.execPath, args);
          samples.push(performance.now() - t);
        } else samples.push(timeOnce(args));
      }
      process.stdout.write('.');
      return medianSpread(samples, 0);
    });
  // dist/ as tsc builds it (a bundle already there is set aside), then with kysely bundled; then as it was found.
  const vendored = join(root, 'dist/node_modules/kysely');
  const aside = `${vendored}.aside`;
  const hadBundle = existsSync(vendored);
  let plain: string[];
  let bundled: string[];
  try {
    if (hadBundle) renameSync(vendored, aside);
    plain = measure();
    if (hadBundle) renameSync(aside, vendored);
    else {
      const made = spawnSync(process.execPath, [join(root, 'scripts/bundle-kysely.mjs')], { encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`bundle-kysely failed: ${made.stderr}`);
    }
    bundled = measure();
  } finally {
    if (existsSync(aside)) renameSync(aside, vendored);
    if (!hadBundle) rmSync(join(root, 'dist/node_modules'), { recursive: true, force: true });
  }
  const rows = commands.map(([label], i) => [label, plain[i]!, bundled[i]!]);
  process.stdout.write(`\n\n${renderTable(['command', 'ms, tsc build', 'ms, kysely bundled'], rows)}\n`);
  if (keep) process.stdout.write(`\nKept ${path}\n`);
} finally {
  if (!keep) rmSync(tmp, { recursive: true, force: true });
}
