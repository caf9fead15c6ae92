import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startDiegoStub, type Reply } from '../helpers/diego-stub.ts';
import { spawnCli, type CliProcess, runCli } from '../helpers/cli-process.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

// Diego's text as a hostile or broken Diego (or a proxy in front of it) sends it, through the real binary: the
// agent's log, `history` and `stats` show it escaped, JSON output stays JSON holding the text as it came.

const ONCE_A_YEAR = '0 0 0 1 1 *';
const HOSTILE = '\u001b[2J\u001b]0;title\u0007\u001b[31mX\n[2026-01-01T00:00:00.000Z] [SCHEDULER] Scalping cycle completed successfully\u009b31m\u2028end';
/** Raw terminal controls: ESC, BEL, a C1 CSI, a line separator. A newline is checked apart (lines are split on it). */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029]/;

/** Runs one failing startup cycle against a stub answering `reply`, then stops the agent; returns its output. */
async function oneFailedCycle(dbPath: string, reply: Reply, env: Record<string, string> = {}): Promise<CliProcess> {
  const stub = await startDiegoStub([reply]);
  const agent = spawnCli(['run'], {
    DIEGO_URL: stub.url,
    DATABASE_URL: dbPath,
    MIGUEL_URL: '',
    STATS_INTERVAL_MS: '0',
    CRON_PATTERN: ONCE_A_YEAR,
    RETRY_ATTEMPTS: '1',
    ...env,
  });
  try {
    await agent.line(/Scalping cycle #1 failed/, 15_000);
    agent.kill('SIGTERM');
    assert.equal((await within(agent.exited, 10_000, 'the agent to stop')).code, 0);
    return agent;
  } finally {
    agent.kill('SIGKILL');
    await stub.close();
  }
}

const cli = (args: string[]) => runCli(args);

test("Diego's error text with terminal escapes and a newline is escaped in the agent's log, history and stats, and stored as it came", async () => {
  const t = tempDir();
  try {
    const dbPath = join(t.dir, 'history.db');
    const agent = await oneFailedCycle(dbPath, { status: 500, body: { success: false, error: HOSTILE } });
    const logged = [...agent.stdout, ...agent.stderr];
    for (const line of logged) assert.doesNotMatch(line, RAW_CONTROL, `raw control in ${JSON.stringify(line)}`);
    // One record, one line: the forged "completed successfully" never starts a line of its own.
    assert.ok(!logged.some((l) => l.startsWith('[2026-01-01T00:00:00.000Z]')), logged.join('\n'));
    assert.ok(!logged.some((l) => /^\[[^\]]*\] \[SCHEDULER\] Scalping cycle completed successfully/.test(l)), logged.join('\n'));
    const failed = logged.find((l) => l.includes('Scalping cycle #1 failed'))!;
    assert.ok(failed.includes('\\u001b[2J\\u001b]0;title\\u0007\\u001b[31mX\\n[2026-01-01T00:00:00.000Z]'), failed);

    for (const args of [['history'], ['history', '--cycle', '1'], ['stats', '--window', 'all']]) {
      const r = await cli([...args, '--db', dbPath]);
      assert.equal(r.code, 0, r.err);
      assert.doesNotMatch(r.out, RAW_CONTROL, `${args.join(' ')}: ${JSON.stringify(r.out)}`);
      assert.match(r.out, /\\u001b\[/, `${args.join(' ')} shows the escape: ${r.out}`);
    }
    const detail = await cli(['history', '--cycle', '1', '--db', dbPath]);
    assert.ok(!detail.out.split('\n').some((l) => l.includes('Scalping cycle completed successfully') && !l.includes('\\n')), detail.out);

    // JSON stays JSON, and holds the bytes Diego sent.
    const json = await cli(['history', '--cycle', '1', '--json', '--db', dbPath]);
    assert.doesNotMatch(json.out, RAW_CONTROL);
    const parsed = JSON.parse(json.out) as { cycle: { error: string }; attempts: { error: string; responseExcerpt: string }[] };
    assert.equal(parsed.cycle.error, `HTTP 500: ${HOSTILE}`);
    assert.equal(JSON.parse(parsed.attempts[0]!.responseExcerpt).error, HOSTILE);
    const list = await cli(['history', '--json', '--db', dbPath]);
    assert.equal((JSON.parse(list.out) as { error: string }[])[0]!.error, `HTTP 500: ${HOSTILE}`);
  } finally {
    t.cleanup();
  }
});

test('with LOG_FORMAT=json the hostile text stays inside one valid JSON object per line', async () => {
  const t = tempDir();
  try {
    const agent = await oneFailedCycle(join(t.dir, 'history.db'), { status: 500, body: { success: false, error: HOSTILE } }, { LOG_FORMAT: 'json' });
    const lines = [...agent.stdout, ...agent.stderr].filter((l) => l !== '');
    for (const line of lines) {
      assert.doesNotMatch(line, RAW_CONTROL, line);
      JSON.parse(line);
    }
    const failed = lines.map((l) => JSON.parse(l) as { msg: string }).find((o) => o.msg.includes('Scalping cycle #1 failed'));
    assert.ok(failed?.msg.includes(HOSTILE), 'the JSON log keeps the text, escaped by JSON itself');
  } finally {
    t.cleanup();
  }
});

test("Diego's huge error and signal are kept to a few hundred characters in the log and the database; the excerpt to 16 KiB", async () => {
  const t = tempDir();
  try {
    const dbPath = join(t.dir, 'history.db');
    const huge = 'E'.repeat(900 * 1024);
    const agent = await oneFailedCycle(dbPath, { status: 500, body: { success: false, error: huge } }, { RETRY_ATTEMPTS: '3', RETRY_DELAY_MS: '0' });
    const logged = [...agent.stdout, ...agent.stderr].join('\n');
    assert.ok(logged.length < 20_000, `${logged.length} characters logged for one failed cycle`);
    const detail = await cli(['history', '--cycle', '1', '--json', '--db', dbPath]);
    const parsed = JSON.parse(detail.out) as { cycle: { error: string }; attempts: { error: string; responseExcerpt: string }[] };
    assert.equal(parsed.attempts.length, 3);
    assert.ok(parsed.cycle.error.length <= 320 && parsed.cycle.error.endsWith('…'), `${parsed.cycle.error.length} characters stored`);
    for (const a of parsed.attempts) {
      assert.ok(a.error.length <= 320, `${a.error.length} characters stored`);
      assert.equal(a.responseExcerpt.length, 16 * 1024);
    }

    // A success whose signal is 900 KB: the stored summary (the brief) is capped too.
    const stub = await startDiegoStub([{ status: 200, body: { success: true, analysis: { signal: 'S'.repeat(900 * 1024), confidence: 0.5, price: 1 } } }]);
    const ok = spawnCli(['run'], { DIEGO_URL: stub.url, DATABASE_URL: dbPath, MIGUEL_URL: '', STATS_INTERVAL_MS: '0', CRON_PATTERN: ONCE_A_YEAR });
    try {
      await ok.line(/Scalping cycle completed successfully/, 15_000);
      ok.kill('SIGTERM');
      assert.equal((await within(ok.exited, 10_000, 'the agent to stop')).code, 0);
    } finally {
      ok.kill('SIGKILL');
      await stub.close();
    }
    assert.ok([...ok.stdout, ...ok.stderr].join('\n').length < 10_000);
    const list = JSON.parse((await cli(['history', '--json', '--db', dbPath])).out) as { summary: string | null }[];
    assert.ok(list[0]!.summary !== null && list[0]!.summary.length <= 300, `${list[0]!.summary?.length} characters of summary`);
  } finally {
    t.cleanup();
  }
});
