import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { runCli, CLI_PATH } from '../helpers/cli-process.ts';
import { scene } from '../helpers/scene.ts';
import { within } from '../helpers/wait.ts';

// Paths that are not what they look like (issue 24 item 17): each through the real CLI, or a spawned process.

test('DATABASE_URL file:///…/y.db?mode=ro: refused with one line naming the query, exit 2, no file named `y.db?mode=ro`', async (t) => {
  const dir = scene(t).dir();
  const r = await runCli(['migrate'], { DATABASE_URL: `file://${dir}/y.db?mode=ro` });
  assert.equal(r.code, 2, `${r.out}\n${r.err}`);
  assert.equal(r.err.split('\n').length, 1, r.err);
  assert.match(r.err, /DATABASE_URL.*y\.db\?mode=ro.*a file: URL without a query or fragment \("\?mode=ro" is not honoured/);
  assert.deepEqual(readdirSync(dir), [], 'nothing created');
});

test('DATABASE_URL file:///…/my%20history.db: the %-escape is decoded, the file is `my history.db`', async (t) => {
  const dir = scene(t).dir();
  const r = await runCli(['migrate'], { DATABASE_URL: `file://${dir}/my%20history.db` });
  assert.equal(r.code, 0, `${r.out}\n${r.err}`);
  assert.ok(existsSync(join(dir, 'my history.db')), readdirSync(dir).join(', '));
});

test('DATABASE_URL naming a FIFO: one line saying it is a named pipe, not a regular file, exit 2, for `migrate`, `run` and `history`', async (t) => {
  const dir = scene(t).dir();
  const fifo = join(dir, 'history.db');
  execFileSync('mkfifo', [fifo]);
  for (const args of [['migrate'], ['run'], ['history']]) {
    const r = await runCli(args, { DATABASE_URL: fifo, DIEGO_URL: 'http://127.0.0.1:9' });
    assert.equal(r.code, 2, `${args[0]}: ${r.out}\n${r.err}`);
    const lines = r.err.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `${args[0]}: ${r.err}`);
    assert.match(lines[0]!, new RegExp(`Cannot open database ${fifo}: it is a named pipe \\(FIFO\\), not a regular file`), args[0]);
    assert.doesNotMatch(r.err, /disk I\/O error/);
  }
});

test('the single binary\'s addon cache under /proc: refused at once with its reason, the next directory used (no spin deaf to SIGTERM)', async (t) => {
  const tmp = mkdtempSync(join(tmpdir(), 'pmf-cache-'));
  t.after(() => rmSync(tmp, { recursive: true, force: true }));
  // extractAddon as the binary calls it, in a process of its own: on Node 20 a recursive mkdir under /proc never returns.
  const module = pathToFileURL(join(CLI_PATH, '..', 'store', 'sqlite', 'sea-addon.js')).href;
  const script = `
    const { extractAddon } = await import(${JSON.stringify(module)});
    const got = extractAddon(new Uint8Array([1, 2, 3]), ['/proc/pmf-nope/cache', ${JSON.stringify(tmp)}], (file) => file);
    console.log(JSON.stringify(got));`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  try {
    assert.equal(await within(exited, 10_000, 'extractAddon to give up on /proc'), 0, out);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
  assert.match(out, new RegExp(`^"${tmp}/better_sqlite3-[0-9a-f]{16}\\.node"`));
});
