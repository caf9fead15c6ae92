import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readControlState } from '../../src/control/control-store.ts';
import { registerAgent } from '../../src/store/history/agent-registry.ts';
import { spawnCli } from '../helpers/cli-process.ts';
import { runMain } from '../helpers/run-main.ts';
import { tempDatabase } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

// Bad input to the control commands: one line naming the argument, its value and what is expected, exit 2, and
// nothing changed in the database (no pause, no audit row, the version untouched).

const BAD: [string[], RegExp][] = [
  [['pause'], /^pmf-scheduler: Missing --reason: expected why, such as --reason "exchange unstable"/],
  [['pause', '--reason', '  '], /^pmf-scheduler: Invalid --reason "": expected a value$/],
  [['pause', '--reason', 'x', '--symbol', 'DOGE/USDT'], /^pmf-scheduler: Invalid --symbol "DOGE\/USDT": expected one of BTC\/USDT, ETH\/USDT \(the agents' SYMBOLS\)$/],
  [['pause', '--reason', 'x', '--for', '10 minutes'], /^pmf-scheduler: Invalid --for "10 minutes": expected a duration such as 30m, 2h, 7d or 1h30m$/],
  [['pause', '--reason', 'x', '--for', '0m'], /^pmf-scheduler: Invalid --for "0m": expected a duration/],
  [['pause', '--reason', 'x', '--until', '2020-01-01T00:00:00Z'], /^pmf-scheduler: Invalid --until "2020-01-01T00:00:00Z": expected a time in the future \(it is .*; 2020-01-01T00:00:00.000Z has passed\)$/],
  [['pause', '--reason', 'x', '--until', 'tomorrow'], /^pmf-scheduler: Invalid --until "tomorrow": expected a time such as/],
  [['pause', '--reason', 'x', '--for', '1h', '--until', '2999-01-01T00:00:00Z'], /^pmf-scheduler: --for and --until both set when the pause ends: give one$/],
  [['pause', '--reason', 'bad\u001b[2Jtext'], /^pmf-scheduler: Invalid --reason "bad\\u001b\[2Jtext": expected one line of printable text, without control or format characters, at most 500 characters \(U\+001B at character 4\)$/],
  [['pause', '--reason', 'x', '--by', 'a\nb'], /^pmf-scheduler: Invalid --by "a\\nb": expected one line of printable text/],
  [['reschedule', 'not a pattern', '--reason', 'x'], /^pmf-scheduler: Invalid PATTERN "not a pattern": expected a cron pattern with 5 or 6 fields/],
  [['reschedule', '* * * * * *', '--reset'], /^pmf-scheduler: reschedule takes a PATTERN or --reset, not both/],
  [['trigger', '--symbol', 'DOGE/USDT'], /^pmf-scheduler: Invalid --symbol "DOGE\/USDT": expected one of/],
  [['resume', '--symbol', 'DOGE/USDT'], /^pmf-scheduler: Invalid --symbol "DOGE\/USDT": expected one of BTC\/USDT, ETH\/USDT/],
  [['audit', '--since', 'yesterday'], /^pmf-scheduler: Invalid --since "yesterday": expected a time such as/],
  [['audit', '--limit', '0'], /^pmf-scheduler: Invalid --limit "0": expected an integer from 1 to 100000$/],
];

test('control commands: each bad input is one line naming the argument, value and expectation, exit 2, nothing changed', async () => {
  const t = await tempDatabase();
  try {
    // The symbols the agents run come from the newest agent's row, not from this environment.
    await registerAgent(t.db, { owner: 'a', host: 'h', pid: 1, version: 'v', cronPattern: '* * * * * *', symbols: ['BTC/USDT', 'ETH/USDT'], startedAt: Date.now() });
    for (const [argv, line] of BAD) {
      const r = await runMain([...argv, '--db', t.path], { SYMBOLS: 'XRP/USDT' });
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.err.join('\n')}`);
      assert.equal(r.err.length, 1, `${argv.join(' ')}: one line: ${r.err.join('\n')}`);
      assert.match(r.err[0]!, line, argv.join(' '));
      assert.deepEqual(r.out, [], argv.join(' '));
    }
    assert.deepEqual(await readControlState(t.db), { version: 0, pauses: [], schedule: null, triggers: [] }, 'nothing changed');
    assert.deepEqual(await t.db.selectFrom('control_audit').selectAll().execute(), []);

    // Resume with nothing paused: not an error, a word, and no audit row.
    const idle = await runMain(['resume', '--symbol', 'ETH/USDT', '--db', t.path]);
    assert.deepEqual([idle.code, idle.out, idle.err], [0, ['Nothing to resume: no pause of ETH/USDT in force'], []]);
    assert.equal((await readControlState(t.db)).version, 0);

    // A symbol held by the whole agent's pause: resuming it alone lifts nothing, and says what holds it.
    assert.equal((await runMain(['pause', '--reason', 'all', '--db', t.path])).code, 0);
    const held = await runMain(['resume', '--symbol', 'ETH/USDT', '--db', t.path]);
    assert.deepEqual([held.code, held.out], [0, ['Nothing to resume: no pause of ETH/USDT in force; it is held by the pause of all symbols (resume without --symbol lifts it)']]);
  } finally {
    await t.cleanup();
  }
});

test('control commands: a symbol is checked against SYMBOLS when no agent ever ran; the real CLI exits 2 with one line', async () => {
  const t = await tempDatabase();
  try {
    const p = spawnCli(['pause', '--reason', 'x', '--symbol', 'ETH/USDT', '--db', t.path], { SYMBOLS: 'BTC/USDT' });
    const { code } = await within(p.exited, 15_000, 'pause to exit');
    assert.equal(code, 2);
    assert.deepEqual(p.stderr.filter(Boolean), ['pmf-scheduler: Invalid --symbol "ETH/USDT": expected one of BTC/USDT (the agents\' SYMBOLS)']);
    assert.deepEqual(p.stdout.filter(Boolean), []);
    assert.equal((await readControlState(t.db)).version, 0);
  } finally {
    await t.cleanup();
  }
});
