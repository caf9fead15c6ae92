// Start-up: process start (just before spawn) to the first POST arriving at a receiver on 127.0.0.1, with
// RUN_ON_START=true, for Node (dist/src/cli.js), the single binary (dist/pmf-scheduler) and Deno (deno run -A
// src/cli.ts) when they exist; bare Node posting once (`node -e "fetch(…)"`) is the floor.
//   node dist/bench/startup.js [--runs 10] [--out file.json]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag, intFlag } from './lib/args.ts';
import { hiResNow, stopChild } from './lib/proc.ts';
import { startReceiver, type Receiver } from './lib/receiver.ts';
import { medianSpread } from './lib/stats.ts';
import { renderTable } from './lib/table.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const runs = intFlag(argv, 'runs', 10);
const out = flag(argv, 'out');
const TIMEOUT_MS = 15_000;

interface Variant {
  name: string;
  /** Why it is not measured, when it is not. */
  missing?: string;
  command?: [string, string[]];
  /** Node only: with kysely bundled into dist/node_modules (scripts/bundle-kysely.mjs, the history issue's). */
  kyselyBundled?: boolean;
}

const vendored = join(root, 'dist/node_modules/kysely');
const aside = join(root, 'dist/kysely-bundle-aside');
const bundler = join(root, 'scripts/bundle-kysely.mjs');

/** Puts dist/ in the state a variant needs: kysely bundled into dist/node_modules or not. */
function kyselyBundle(wanted: boolean): void {
  if (wanted && !existsSync(vendored)) {
    if (existsSync(aside)) renameSync(aside, vendored);
    else {
      const made = spawnSync(process.execPath, [bundler], { encoding: 'utf8' });
      if (made.status !== 0) throw new Error(`bundle-kysely failed: ${made.stderr}`);
    }
  }
  if (!wanted && existsSync(vendored)) renameSync(vendored, aside);
}

function variants(url: string): Variant[] {
  const binary = join(root, 'dist/pmf-scheduler');
  const deno = join(root, 'node_modules/.bin/deno');
  const post = `fetch(${JSON.stringify(`${url}/analyze`)}, { method: 'POST', headers: { 'x-sent-at': String(performance.timeOrigin + performance.now()) }, body: '{}' }).then((r) => r.arrayBuffer())`;
  return [
    { name: 'bare Node, one fetch (floor)', command: [process.execPath, ['-e', post]] },
    { name: 'Node: node dist/src/cli.js run, tsc output alone', command: [process.execPath, [join(root, 'dist/src/cli.js'), 'run']], kyselyBundled: false },
    existsSync(bundler)
      ? { name: 'Node: the same, as npm run build ships it (kysely bundled)', command: [process.execPath, [join(root, 'dist/src/cli.js'), 'run']], kyselyBundled: true }
      : { name: 'Node: the same, with kysely bundled', missing: 'no scripts/bundle-kysely.mjs' },
    existsSync(binary) ? { name: 'single binary: dist/pmf-scheduler run', command: [binary, ['run']] } : { name: 'single binary: dist/pmf-scheduler run', missing: 'not built (npm run build:binary)' },
    existsSync(deno) ? { name: 'Deno: deno run -A src/cli.ts run', command: [deno, ['run', '-A', join(root, 'src/cli.ts'), 'run']] } : { name: 'Deno: deno run -A src/cli.ts run', missing: 'deno not installed' },
  ];
}

/** Spawns one process and times its first request; `dbDir` holds the database (fresh, or left by a run before). */
async function once(v: Variant, receiver: Receiver, dbDir: string): Promise<number> {
  const [cmd, args] = v.command!;
  const logPath = join(dbDir, 'out.log');
  const log = openSync(logPath, 'a');
  const first = receiver.next();
  const startedAt = hiResNow();
  const child = spawn(cmd, args, {
    cwd: root,
    stdio: ['ignore', log, log],
    env: { ...process.env, DIEGO_URL: receiver.url, RUN_ON_START: 'true', WAIT_FOR_READY: 'false', MIGUEL_URL: '', CRON_PATTERN: '0 0 0 1 1 *', STATS_INTERVAL_MS: '0', LOG_FORMAT: 'json', DATABASE_URL: join(dbDir, 'history.db') },
  });
  closeSync(log);
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    const arrival = await Promise.race([
      first,
      new Promise<never>((_, fail) => (timer = setTimeout(() => fail(new Error(`no request within ${TIMEOUT_MS} ms`)), TIMEOUT_MS))),
      new Promise<never>((_, fail) => child.once('exit', (code) => fail(new Error(`exited with ${code} before its first request`)))),
    ]);
    return arrival.arrivedAt - startedAt;
  } catch (err) {
    throw new Error(`${v.name}: ${(err as Error).message}\n${readFileSync(logPath, 'utf8').slice(-1500)}`);
  } finally {
    clearTimeout(timer);
    await stopChild(child);
  }
}

async function main(): Promise<void> {
  const receiver = await startReceiver();
  const rows: string[][] = [];
  const results: Record<string, { fresh: number[]; existing: number[]; error?: string }> = {};
  const hadBundle = existsSync(vendored);
  try {
    for (const v of variants(receiver.url)) {
      if (v.missing) {
        rows.push([v.name, v.missing, v.missing]);
        continue;
      }
      const r = (results[v.name] = { fresh: [] as number[], existing: [] as number[], error: undefined as string | undefined });
      process.stderr.write(`start-up: ${v.name} × ${runs}...\n`);
      try {
        if (v.kyselyBundled !== undefined) kyselyBundle(v.kyselyBundled);
        for (let i = 0; i < runs; i++) {
          const dir = mkdtempSync(join(tmpdir(), 'pmf-bench-startup-'));
          try {
            r.fresh.push(await once(v, receiver, dir)); // creates and migrates the database
            r.existing.push(await once(v, receiver, dir)); // opens the database the run before left
          } finally {
            rmSync(dir, { recursive: true, force: true });
          }
        }
        const floor = v.name.startsWith('bare');
        rows.push([v.name, medianSpread(r.fresh, 0), floor ? '–' : medianSpread(r.existing, 0)]);
      } catch (err) {
        r.error = (err as Error).message;
        rows.push([v.name, `failed: ${r.error.split('\n')[0]}`, 'failed']);
        process.stderr.write(`${r.error}\n`);
      }
    }
  } finally {
    await receiver.close();
    // dist/ as it was found.
    if (existsSync(bundler)) kyselyBundle(hadBundle);
    if (!hadBundle) rmSync(join(root, 'dist/node_modules'), { recursive: true, force: true });
    rmSync(aside, { recursive: true, force: true });
  }
  process.stdout.write(`Start-up: process start to the first request's arrival, RUN_ON_START=true, ms; ${runs} run(s), median (min–max)\n\n`);
  process.stdout.write(`${renderTable(['variant', 'new database (created, migrated)', 'existing database'], rows)}\n`);
  if (out) writeFileSync(out, JSON.stringify(results, null, 2));
}

await main();
