import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fitLine, fitToWidth, hangingIndent, visibleLength } from '../../src/reports/fit-width.ts';

const words = (text: string) => text.split(/\s+/).filter(Boolean);

test('fitLine: broken between words only, each piece within the width, continued under the value column', () => {
  const line = '  --reason <text>    why (required; the audit keeps it) and a few more words to go past fifty columns at least';
  const lines = fitLine(line, 50);
  assert.ok(lines.length > 2, lines.join('\n'));
  for (const l of lines) assert.ok(visibleLength(l) <= 50, `${JSON.stringify(l)} is ${visibleLength(l)} columns`);
  assert.deepEqual(words(lines.join(' ')), words(line), 'the same words in the same order, none cut');
  assert.equal(lines[0]!.startsWith('  --reason <text>    why'), true, 'the first line keeps its table gap');
  for (const l of lines.slice(1)) assert.match(l, /^ {21}\S/, 'continuations start under "why"');
});

test('fitLine: a line that fits is kept, trailing spaces gone; a word longer than the room is left whole', () => {
  assert.deepEqual(fitLine('  --db <path>  SQLite file   ', 80), ['  --db <path>  SQLite file']);
  const url = 'https://example.invalid/a/very/long/path/that/cannot/be/broken/anywhere';
  const lines = fitLine(`  see ${url} for more`, 30);
  assert.ok(lines.includes(`    ${url}`), lines.join('\n'));
});

test('hangingIndent: the value column, or two past the indent when there is none or it is past half the width', () => {
  assert.equal(hangingIndent('  cycles          12 (12 succeeded)', 80), 18);
  assert.equal(hangingIndent('Stats BTC/USDT (2024-01-22 10:00:00 → now)', 80), 2);
  assert.equal(hangingIndent(`  ${'x'.repeat(50)}  value`, 80), 4);
});

test('colour escapes take no columns', () => {
  const red = (s: string) => `\x1b[31m${s}\x1b[39m`;
  const line = `  ${red('failing')}         ${red('3 failed cycle(s) in a row')} and more words after it`;
  assert.equal(visibleLength(red('abc')), 3);
  for (const l of fitLine(line, 36)) assert.ok(visibleLength(l) <= 36, JSON.stringify(l));
});

test('fitToWidth: without a width (piped) every line stays whole, only trailing spaces go', () => {
  const text = `a line  \n${'word '.repeat(40)}\n`;
  assert.equal(fitToWidth(text, undefined), `a line\n${'word '.repeat(40).trimEnd()}\n`);
  assert.ok(fitToWidth(text, 30).split('\n').every((l) => l.length <= 30 && l === l.trimEnd()));
});
