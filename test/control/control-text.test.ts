import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hostname, userInfo } from 'node:os';
import { readControlState } from '../../src/control/control-store.ts';
import { escapeControl } from '../../src/log/escape.ts';
import { tempDatabaseOn } from '../helpers/backends.ts';
import { runCli } from '../helpers/cli-process.ts';

// What `--reason` and `--by` may hold, and how the audit names who acted (issue 24 items 22, 23), with the real CLI.

/** Format characters that change what a terminal shows without being seen. */
const FORMAT = ['\u202e', '\u202a', '\u2066', '\u2069', '\u200b', '\u200f', '\ufeff', '\u00ad', '\u061c'];
const RAW = new RegExp(`[${FORMAT.join('')}]`);

test('--reason and --by refuse bidi overrides, isolates and zero-width characters: exit 2, one line naming the option, nothing raw on the terminal, nothing written', async () => {
  const t = await tempDatabaseOn('sqlite');
  try {
    for (const ch of FORMAT) {
      for (const [option, args] of [['reason', ['--reason', `approved ${ch}gnissecorp`]], ['by', ['--reason', 'x', '--by', `risk${ch}desk`]]] as const) {
        const r = await runCli(['pause', ...args, '--db', t.path]);
        const hex = ch.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
        assert.equal(r.code, 2, `--${option} with U+${hex}: ${r.out}${r.err}`);
        assert.equal(r.err.trim().split('\n').length, 1, r.err);
        assert.match(r.err, new RegExp(`^pmf-scheduler: Invalid --${option} ".*": expected one line of printable text, without control or format characters, at most 500 characters \\(U\\+${hex} at character \\d+\\)`));
        assert.doesNotMatch(r.err, RAW, 'the refusal shows the character escaped');
      }
    }
    assert.equal((await readControlState(t.db)).version, 0, 'nothing changed');
  } finally {
    await t.cleanup();
  }
});

test('audit and status escape format characters a row holds (written by SQL or an older version): \\u202e shown, never the override itself', async () => {
  const t = await tempDatabaseOn('sqlite');
  try {
    await t.db.insertInto('control_audit').values({ version: 1, at: Date.now(), action: 'pause', symbol: '*', scope: 'cycles', args: '{}', reason: 'approved \u202egnissecorp\u202c by risk', by_who: 'eve\u200b' }).execute();
    await t.db.insertInto('control_pauses').values({ symbol: '*', scope: 'cycles', reason: 'approved \u202egnissecorp\u202c', by_who: 'eve\u200b', since: Date.now(), until: null, abort: 0, audit_id: 1 }).execute();
    await t.db.updateTable('control_version').set({ version: 1 }).execute();
    for (const args of [['audit'], ['audit', '--json'], ['status'], ['status', '--json']]) {
      const r = await runCli([...args, '--db', t.path]);
      assert.doesNotMatch(r.out, RAW, `${args.join(' ')} prints a format character raw`);
      assert.match(r.out, /approved \\u202egnissecorp\\u202c/, args.join(' '));
    }
    assert.equal(escapeControl('a\u202eb\u2066c\u200bd\ufeff'), 'a\\u202eb\\u2066c\\u200bd\\ufeff');
  } finally {
    await t.cleanup();
  }
});

test('--by NAME records both the name given and the OS user@host that ran the command', async () => {
  const t = await tempDatabaseOn('sqlite');
  try {
    const os = `${userInfo().username}@${hostname()}`;
    const named = await runCli(['pause', '--reason', 'exchange down', '--by', 'risk desk', '--db', t.path]);
    assert.equal(named.code, 0, named.err);
    assert.match(named.out, new RegExp(`by risk desk \\(${os.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\) since`));
    const unnamed = await runCli(['resume', '--reason', 'back', '--db', t.path]);
    assert.equal(unnamed.code, 0, unnamed.err);
    const audit = JSON.parse((await runCli(['audit', '--json', '--db', t.path])).out) as { action: string; by: string }[];
    assert.deepEqual(audit.map((e) => [e.action, e.by]), [['pause', `risk desk (${os})`], ['resume', os]]);
  } finally {
    await t.cleanup();
  }
});
