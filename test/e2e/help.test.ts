import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EXAMPLES } from '../../src/commands/help-text.ts';
import { onTerminal, runCli } from '../helpers/cli-process.ts';

// `--help` as a person reads it: in a terminal (a real pseudo-terminal from util-linux `script`, 60 columns), lines
// broken between words and none past the width; piped, lines whole; no trailing spaces either way. Each command's help
// says what it does and shows examples that use only its own flags (issue 24 item 14).

const words = (text: string) => text.split(/\s+/).filter(Boolean);

test('--help on a 60-column terminal: no line past 60 columns, none cut mid-word, no trailing spaces; piped: lines whole', async () => {
  for (const args of [['--help'], ['pause', '--help'], ['stats', '--help']]) {
    const piped = await runCli(args);
    assert.equal(piped.code, 0, piped.err);
    const tty = onTerminal(args, 60);
    const lines = tty.trimEnd().split('\n');
    for (const l of lines) assert.ok(l.length <= 60, `${args.join(' ')}: ${JSON.stringify(l)} is ${l.length} columns`);
    for (const l of [...lines, ...piped.out.split('\n')]) assert.equal(l, l.trimEnd(), `trailing spaces: ${JSON.stringify(l)}`);
    assert.deepEqual(words(tty), words(piped.out), `${args.join(' ')}: the terminal shows the piped text's words, whole and in order`);
    if (args[0] === '--help') assert.ok(piped.out.split('\n').some((l) => l.length > 60), 'piped, the long lines are kept whole');
  }
});

test('each command\'s --help: its description, and examples that name it and only its own flags', async () => {
  for (const [name, examples] of Object.entries(EXAMPLES)) {
    const help = await runCli([name, '--help']);
    assert.equal(help.code, 0, help.err);
    const [usage, description] = help.out.split('\n\n').slice(1, 3);
    assert.match(usage!, new RegExp(`\\$ pmf-scheduler ${name}\\b`));
    assert.ok(description && !description.startsWith('Options:') && description.length > 10, `${name}: no description in\n${help.out}`);
    assert.match(help.out, /\nExamples:\n/, name);
    for (const example of examples) {
      assert.ok(help.out.includes(`$ ${example}`), `${name}: example missing: ${example}`);
      const typed = words(example.replace(/"[^"]*"/g, 'X'));
      assert.equal(typed[typed.indexOf('pmf-scheduler') + 1], name, `the example runs ${name}: ${example}`);
      for (const flag of typed.filter((w) => w.startsWith('--'))) assert.ok(new RegExp(`\\n  (-\\w, )?${flag}\\b`).test(help.out), `${name}: ${flag} is not one of its options (${example})`);
    }
  }
});
