import { spawn } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CLI_PATH, spawnCli, type CliProcess } from '../helpers/cli-process.ts';
import { pgTest, tempSchema } from '../helpers/backends.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

// The database as operators point the agent at it, through the real binary: paths that cannot hold it, two agents
// (or an agent and `migrate`) starting together on a new file or schema, and who may read the file.

const IDLE = { ENABLE_SCHEDULER: 'false', DIEGO_URL: 'http://127.0.0.1:9', MIGUEL_URL: '', STATS_INTERVAL_MS: '0' };
const everything = (p: CliProcess) => [...p.stdout, ...p.stderr].join('\n');

async function exitOf(p: CliProcess, what: string): Promise<number | null> {
  try {
    return (await within(p.exited, 20_000, what)).code;
  } finally {
    p.kill('SIGKILL');
  }
}

test('a DATABASE_URL path that cannot be created ends in one line naming it and the reason, exit 2, within a second', async () => {
  const t = tempDir();
  try {
    const file = join(t.dir, 'plain-file');
    await import('node:fs').then((fs) => fs.writeFileSync(file, 'x'));
    const cases: [path: string, reason: RegExp][] = [
      ['/proc/nope/x.db', /\/proc is on the kernel's proc filesystem, which holds no files/],
      ['/proc/x.db', /\/proc is on the kernel's proc filesystem/],
      ['/sys/nope/deeper/x.db', /\/sys is on the kernel's sysfs filesystem/],
      [join(file, 'sub', 'x.db'), new RegExp(`${file} is not a directory`)],
    ];
    for (const [path, reason] of cases) {
      for (const args of [['run'], ['migrate']]) {
        const started = performance.now();
        const p = spawnCli(args, { ...IDLE, DATABASE_URL: path });
        const code = await exitOf(p, `${args[0]} on ${path}`);
        const tookMs = performance.now() - started;
        assert.equal(code, 2, everything(p));
        const lines = [...p.stdout, ...p.stderr].filter((l) => l !== '');
        assert.equal(lines.length, 1, lines.join('\n'));
        assert.ok(lines[0]!.includes(`DATABASE_URL="${path}": Cannot create database ${path}: `), lines[0]);
        assert.match(lines[0]!, reason);
        // Node's own start-up is most of it; the check itself takes a few stat calls.
        assert.ok(tookMs < 1500, `${args[0]} on ${path} took ${Math.round(tookMs)} ms`);
      }
    }
  } finally {
    t.cleanup();
  }
});

/** Starts `n` processes at once on one database: `migrate` and idle agents; every one must come up, then stop. */
async function startTogether(env: Record<string, string>, db: string, n: number): Promise<void> {
  const procs: CliProcess[] = [];
  try {
    for (let i = 0; i < n; i++) procs.push(i === 0 ? spawnCli(['migrate', '--db', db], {}) : spawnCli(['run'], { ...env, ...IDLE, DATABASE_URL: db }));
    const [migrate, ...agents] = procs;
    await Promise.all(agents.map((a) => a.line(/Scheduler disabled|Cannot|exit/i, 20_000)));
    for (const a of agents) a.kill('SIGTERM');
    const codes = await Promise.all(procs.map((p, i) => exitOf(p, `process ${i}`)));
    assert.deepEqual(codes, procs.map(() => 0), procs.map(everything).join('\n---\n'));
    assert.match(everything(migrate!), /is up to date|Created the schema in|Migrated /);
    for (const a of agents) assert.match(everything(a), /Scheduler disabled/);
  } finally {
    for (const p of procs) p.kill('SIGKILL');
  }
}

test('[sqlite] six processes started at the same instant on one new file all start (one migrates, the others find it ready)', async () => {
  const t = tempDir();
  try {
    for (let round = 0; round < 4; round++) await startTogether({}, join(t.dir, `round-${round}`, 'history.db'), 6);
  } finally {
    t.cleanup();
  }
});

test('[postgres] six processes started at the same instant on one new schema all start', pgTest(), async () => {
  for (let round = 0; round < 3; round++) {
    const s = await tempSchema();
    try {
      await startTogether({}, s.url, 6);
    } finally {
      await s.drop();
    }
  }
});

test('with umask 022 the database, its -wal and -shm are created 0640 and a new directory 0750', async () => {
  const t = tempDir();
  const dir = join(t.dir, 'data', 'pmf');
  const db = join(dir, 'history.db');
  // A shell sets the usual umask, then becomes the agent (exec: the pid is the agent's).
  const child = spawn('/bin/sh', ['-c', 'umask 022 && exec "$0" "$@"', process.execPath, CLI_PATH, 'run'], {
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...IDLE, DATABASE_URL: db, METRICS_FILE: join(t.dir, 'pmf.prom') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  child.stdout.on('data', (c: Buffer) => out.push(c.toString()));
  child.stderr.on('data', (c: Buffer) => out.push(c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  try {
    await within(
      (async () => {
        while (!out.join('').includes('Scheduler disabled')) await new Promise((r) => setTimeout(r, 20));
      })(),
      15_000,
      'the agent to open its database',
    );
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
    assert.equal(mode(db), '640');
    assert.equal(mode(`${db}-wal`), '640');
    assert.equal(mode(`${db}-shm`), '640');
    assert.equal(mode(dir), '750');
    assert.equal(mode(join(t.dir, 'data')), '750');
    child.kill('SIGTERM');
    assert.equal(await within(exited, 10_000, 'the agent to stop'), 0, out.join(''));
    // The metrics file is for node_exporter, which runs as another user: it stays readable.
    assert.equal(statSync(join(t.dir, 'pmf.prom')).mode & 0o004, 0o004);
    // An existing directory keeps its mode: the operator chose it.
    mkdirSync(join(t.dir, 'mine'), { mode: 0o755 });
    const mine = spawnCli(['migrate', '--db', join(t.dir, 'mine', 'h.db')], {});
    assert.equal(await exitOf(mine, 'migrate'), 0);
    assert.equal(mode(join(t.dir, 'mine')), '755');
    assert.equal(mode(join(t.dir, 'mine', 'h.db')), '640');
  } finally {
    child.kill('SIGKILL');
    await within(exited, 5000, 'the agent to die').catch(() => {});
    t.cleanup();
  }
});
