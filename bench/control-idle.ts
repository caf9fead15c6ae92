// Idle cost of live control's change detection (issue #12): an agent that fires nothing (a once-a-year pattern) still
// reads `control_version` (every 250 ms; every second on PostgreSQL while LISTEN/NOTIFY pushes changes). This measures
// the CPU an idle agent spends per minute, on SQLite and on PostgreSQL, for this build and, with `--base DIR`, for
// another build (say the commit before live control) side by side, both at once so they share the machine's load.
// Then `--rounds` pauses and resumes, made with each build's own CLI at random moments, time how long each agent took
// to apply a change (the audit's applied time minus the action's).
//   node dist/bench/control-idle.js [--seconds 60] [--rounds 20] [--postgres postgres://postgres@127.0.0.1:5432/test] [--base /tmp/base/dist/src/cli.js]
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { flag, intFlag } from './lib/args.ts';
import { sleep, stopChild } from './lib/proc.ts';
import { renderTable } from './lib/table.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const seconds = intFlag(argv, 'seconds', 60);
const postgres = flag(argv, 'postgres') ?? 'postgres://postgres@127.0.0.1:5432/test';
const base = flag(argv, 'base');
const rounds = intFlag(argv, 'rounds', 20);
/** After start-up (migrations, first heartbeat), before the counted window. */
const SETTLE_MS = 5000;
const TICKS_PER_S = 100; // USER_HZ on Linux

/** utime + stime of a process in ms, from /proc/<pid>/stat. */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_S;
}

interface Run {
  build: string;
  backend: string;
  cli: string;
  database: string;
  child: ChildProcess;
}

/** Runs this build's CLI `cli` with `args` to its end; its standard output. */
function runCli(cli: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '' }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
    child.once('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`${cli} ${args.join(' ')} exited ${code}`))));
  });
}

/** Each change's delay until the run's agent applied it, in ms: `rounds` pauses and resumes at random moments. */
async function applyDelays(r: Run): Promise<number[]> {
  for (let i = 0; i < rounds; i++) {
    await sleep(200 + Math.random() * 600);
    await runCli(r.cli, ['pause', '--reason', 'bench', '--by', 'bench', '--db', r.database]);
    await sleep(200 + Math.random() * 600);
    await runCli(r.cli, ['resume', '--by', 'bench', '--db', r.database]);
  }
  await sleep(1500);
  const audit = JSON.parse(await runCli(r.cli, ['audit', '--json', '--limit', String(rounds * 2), '--db', r.database])) as { at: string; applied: { at: string }[] }[];
  return audit.flatMap((e) => e.applied.map((a) => Date.parse(a.at) - Date.parse(e.at)));
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? Number.NaN;

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pmf-idle-'));
  const schemas: string[] = [];
  const admin = new pg.Client({ connectionString: postgres });
  await admin.connect();
  const runs: Run[] = [];
  try {
    const builds: [string, string][] = [['this build', join(root, 'dist/src/cli.js')]];
    if (base) builds.push(['base', base]);
    for (const [i, [build, cli]] of builds.entries()) {
      const schema = `pmf_idle_${process.pid}_${i}`;
      await admin.query(`create schema "${schema}"`);
      schemas.push(schema);
      const url = new URL(postgres);
      url.searchParams.set('options', `-c search_path=${schema}`);
      for (const [backend, database] of [['sqlite', join(dir, `idle-${i}.db`)], ['postgres', url.href]] as const) {
        const env = { PATH: process.env.PATH ?? '', DATABASE_URL: database, DIEGO_URL: 'http://127.0.0.1:9', MIGUEL_URL: '', WAIT_FOR_READY: 'false', CRON_PATTERN: '0 0 0 1 1 *', STATS_INTERVAL_MS: '0', REPLICA_ID: `${backend}-${i}` };
        runs.push({ build, backend, cli, database, child: spawn(process.execPath, [cli, 'run'], { env, stdio: 'ignore' }) });
      }
    }
    await sleep(SETTLE_MS);
    const before = runs.map((r) => cpuMs(r.child.pid!));
    await sleep(seconds * 1000);
    const after = runs.map((r) => cpuMs(r.child.pid!));
    const rows = runs.map((r, i) => [r.build, r.backend, ((after[i]! - before[i]!) / seconds * 60).toFixed(0), (((after[i]! - before[i]!) / (seconds * 1000)) * 100).toFixed(2)]);
    process.stdout.write(`Idle agent, ${seconds} s window after ${SETTLE_MS / 1000} s of start-up:\n\n`);
    process.stdout.write(`${renderTable(['build', 'backend', 'CPU ms per minute', 'CPU %'], rows)}\n`);
    if (rounds > 0) {
      const delays = await Promise.all(runs.map(applyDelays));
      const table = runs.map((r, i) => {
        const d = [...delays[i]!].sort((a, b) => a - b);
        return [r.build, r.backend, String(d.length), String(quantile(d, 0.5)), String(quantile(d, 0.95)), String(d.at(-1) ?? Number.NaN)];
      });
      process.stdout.write(`\nA change applied by the agent, ${rounds} pauses and ${rounds} resumes each:\n\n`);
      process.stdout.write(`${renderTable(['build', 'backend', 'changes', 'p50 ms', 'p95 ms', 'max ms'], table)}\n`);
    }
  } finally {
    await Promise.all(runs.map((r) => stopChild(r.child)));
    for (const s of schemas) await admin.query(`drop schema if exists "${s}" cascade`);
    await admin.end();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
