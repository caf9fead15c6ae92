import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SETTINGS } from '../../src/config.ts';
import { projectRoot } from '../helpers/project-root.ts';

const readme = readFileSync(join(projectRoot(), 'README.md'), 'utf8');
const ci = readFileSync(join(projectRoot(), '.ci/run'), 'utf8');

test('the README documents every setting in a table row with its default', () => {
  for (const s of Object.values(SETTINGS)) {
    const row = readme.split('\n').find((l) => l.startsWith(`| ${s.env} |`));
    assert.ok(row, `README has no table row for ${s.env}`);
    const shown = s.default === '' ? 'unset' : `\`${s.default}\``;
    assert.ok(row.includes(shown), `README row for ${s.env} does not show its default ${shown}: ${row}`);
  }
});

test("CI runs exactly the README's test command, after installing from the lock file", () => {
  const quick = /```sh\n([\s\S]*?)```/.exec(readme.slice(readme.indexOf('## Quick start')))?.[1] ?? '';
  const testLine = quick.split('\n').find((l) => l.includes('npm test'));
  assert.ok(testLine, 'the quick start has a test command');
  const command = testLine.replace(/#.*$/, '').trim();
  assert.equal(command, 'npm ci && npm test');
  const lines = ci.split('\n').map((l) => l.trim());
  assert.ok(lines.includes('npm ci') && lines.includes('npm test'), '.ci/run runs npm ci then npm test');
  assert.ok(lines.indexOf('npm ci') < lines.indexOf('npm test'));
});
