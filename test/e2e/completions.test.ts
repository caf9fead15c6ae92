import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnCli } from '../helpers/cli-process.ts';
import { runMain } from '../helpers/run-main.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

const COMMANDS = ['run', 'migrate', 'simulator', 'demo', 'history', 'stats', 'next', 'healthcheck', 'prune', 'pause', 'resume', 'trigger', 'reschedule', 'status', 'audit', 'alerts', 'completions'];

/** The script the built CLI prints for `shell`. */
async function script(shell: string): Promise<string> {
  const p = spawnCli(['completions', shell], {});
  const done = await within(p.exited, 10_000, `completions ${shell} to exit`);
  assert.equal(done.code, 0, p.stderr.join('\n'));
  return p.stdout.join('\n');
}

/** What bash completes for the words typed so far (the last one being completed), with the script sourced. */
function bashComplete(file: string, words: string[]): string[] {
  const driver = `source ${JSON.stringify(file)}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _pmf_scheduler; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync('bash', ['--norc', '-c', driver], { encoding: 'utf8', timeout: 10_000 }).split('\n').filter(Boolean);
}

test('completions bash, run by a real bash: commands, each command\'s options from the command table, shells, and files after a path option', async () => {
  const dir = tempDir('pmf-completions-');
  try {
    const file = join(dir.dir, 'pmf-scheduler.bash');
    writeFileSync(file, await script('bash'));
    assert.deepEqual(bashComplete(file, ['pmf-scheduler', '']).filter((w) => !w.startsWith('-')), COMMANDS);
    assert.deepEqual(bashComplete(file, ['pmf-scheduler', 'hi']), ['history']);
    assert.deepEqual(bashComplete(file, ['pmf-scheduler', 'history', '--l']), ['--limit']);
    assert.deepEqual(bashComplete(file, ['pmf-scheduler', 'stats', '--w']), ['--window']);
    assert.deepEqual(bashComplete(file, ['pmf-scheduler', 'run', '--diego-u']), ['--diego-url']);
    assert.deepEqual(bashComplete(file, ['pmf-scheduler', 'prune', '--d']), ['--dry-run', '--db']);
    assert.deepEqual(bashComplete(file, ['pmf-scheduler', 'completions', '']).filter((w) => !w.startsWith('-')), ['bash', 'zsh', 'fish']);
    // After an option that takes a value, none of ours: bash falls back to file names (`complete -o default`).
    assert.deepEqual(bashComplete(file, ['pmf-scheduler', 'history', '--db', '']), []);
  } finally {
    dir.cleanup();
  }
});

test('completions zsh and fish name every command and every option of the command table', async () => {
  const [zsh, fish] = [await script('zsh'), await script('fish')];
  assert.match(zsh, /^#compdef pmf-scheduler$/m);
  for (const c of COMMANDS) {
    assert.match(zsh, new RegExp(`^    '${c}:`, 'm'), c);
    assert.match(zsh, new RegExp(`^        ${c}\\) _arguments `, 'm'), c);
    assert.match(fish, new RegExp(`-a ${c} -d `), c);
  }
  for (const [command, option] of [['history', 'limit'], ['stats', 'window'], ['run', 'diego-url'], ['healthcheck', 'max-age'], ['prune', 'dry-run']] as const) {
    assert.match(zsh, new RegExp(`^        ${command}\\) _arguments .*'--${option}`, 'm'), `${command} --${option}`);
    assert.match(fish, new RegExp(`^complete -c pmf-scheduler -n '__fish_seen_subcommand_from ${command}' -l ${option} `, 'm'), `${command} --${option}`);
  }
  assert.match(fish, /-n '__fish_seen_subcommand_from history' -l db -rF /, 'file names after --db');
});

test('completions with an unknown or missing shell: exit 2 and one line', async () => {
  const bad = await runMain(['completions', 'tcsh']);
  assert.deepEqual([bad.code, bad.err], [2, ['pmf-scheduler: Invalid shell "tcsh": expected one of bash, zsh, fish']]);
  const missing = await runMain(['completions']);
  assert.equal(missing.code, 2);
  assert.equal(missing.err.length, 1);
});
