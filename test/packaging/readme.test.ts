import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
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

test('the README is a front door: at most 250 lines, and every docs/ page is linked from it', () => {
  const lines = readme.split('\n').length - (readme.endsWith('\n') ? 1 : 0);
  assert.ok(lines <= 250, `README.md has ${lines} lines`);
  const pages = readdirSync(join(projectRoot(), 'docs')).filter((f) => f.endsWith('.md'));
  assert.ok(pages.length >= 8, `${pages.length} docs pages`);
  assert.deepEqual(pages.filter((p) => !readme.includes(`](docs/${p})`)), [], 'docs pages the README does not link');
});

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to dashes. */
const anchorOf = (heading: string) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-');

test('every relative link of the README and docs/ reaches a file, and a heading when it names one', () => {
  const root = projectRoot();
  const files = ['README.md', ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
  const broken: string[] = [];
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8').replace(/```[\s\S]*?```/g, '');
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/.test(target!)) continue;
      const [path, anchor] = target!.split('#') as [string, string | undefined];
      const resolved = path === '' ? file : normalize(join(dirname(file), path));
      if (!existsSync(join(root, resolved))) {
        broken.push(`${file}: ${target} (no ${resolved})`);
        continue;
      }
      if (anchor === undefined || !resolved.endsWith('.md')) continue;
      const headings = readFileSync(join(root, resolved), 'utf8').replace(/```[\s\S]*?```/g, '').split('\n').filter((l) => /^#{1,6} /.test(l));
      if (!headings.some((h) => anchorOf(h.replace(/^#+ /, '')) === anchor)) broken.push(`${file}: ${target} (no such heading in ${resolved})`);
    }
  }
  assert.deepEqual(broken, []);
});
