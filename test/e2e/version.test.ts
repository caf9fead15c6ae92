import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { VERSION } from '../../src/version.ts';
import { spawnCli } from '../helpers/cli-process.ts';
import { projectRoot } from '../helpers/project-root.ts';
import { within } from '../helpers/wait.ts';

test('VERSION equals the version in package.json', () => {
  const manifest = JSON.parse(readFileSync(join(projectRoot(), 'package.json'), 'utf8')) as { name: string; version: string };
  assert.equal(manifest.name, 'pmf-scheduler');
  assert.equal(VERSION, manifest.version);
  assert.match(VERSION, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
});

test('--version prints the version and exits 0 on its own and after every command (the built CLI)', async () => {
  const commands = ['', 'run', 'migrate', 'simulator', 'demo', 'history', 'stats', 'next', 'healthcheck', 'prune', 'completions'];
  const runs = commands.map((c) => ({ c, p: spawnCli([...(c ? [c] : []), '--version'], {}) }));
  try {
    for (const { c, p } of runs) {
      const done = await within(p.exited, 10_000, `${c} --version to exit`);
      assert.equal(done.code, 0, `${c}: ${p.stderr.join('\n')}`);
      assert.deepEqual(p.stdout.filter(Boolean), [`pmf-scheduler/${VERSION} ${process.platform}-${process.arch} node-${process.version}`], c);
      assert.deepEqual(p.stderr.filter(Boolean), [], c);
    }
  } finally {
    for (const { p } of runs) p.kill('SIGKILL');
  }
});
