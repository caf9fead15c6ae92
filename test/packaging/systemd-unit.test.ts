import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HEARTBEAT_INTERVAL_MS } from '../../src/agent/upkeep/heartbeat.ts';
import { SETTINGS } from '../../src/config.ts';
import { CLI_PATH } from '../helpers/cli-process.ts';
import { projectRoot } from '../helpers/project-root.ts';
import { tempDir } from '../helpers/temp-db.ts';

const UNIT = join(projectRoot(), 'deploy', 'systemd', 'pmf-scheduler.service');

/** The [Service] section's keys; a key given twice keeps every value. */
function serviceKeys(text: string): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  let section = '';
  for (const line of text.split('\n')) {
    const header = /^\[(\w+)\]$/.exec(line.trim());
    if (header) section = header[1]!;
    else if (section === 'Service' && /^\w+=/.test(line)) {
      const [k, ...v] = line.split('=');
      keys.set(k!, [...(keys.get(k!) ?? []), v.join('=')]);
    }
  }
  return keys;
}

test('systemd unit: Type=notify with a watchdog the heartbeat feeds, no restart loop on a configuration error, a stop longer than the grace', () => {
  const keys = serviceKeys(readFileSync(UNIT, 'utf8'));
  const one = (k: string) => keys.get(k)?.[0];
  assert.equal(one('Type'), 'notify');
  assert.equal(one('NotifyAccess'), 'all', 'systemd-notify is a child of the agent');
  assert.ok(Number(one('WatchdogSec')) * 1000 >= 3 * HEARTBEAT_INTERVAL_MS, `WatchdogSec=${one('WatchdogSec')} leaves room for a few missed beats`);
  assert.equal(one('RestartPreventExitStatus'), '2');
  assert.ok(Number(one('TimeoutStopSec')) * 1000 > Number(SETTINGS.shutdownGraceMs.default), 'TimeoutStopSec outlasts SHUTDOWN_GRACE_MS');
  assert.match(one('ExecStart') ?? '', /\/pmf-scheduler run$/);
  assert.deepEqual(keys.get('Environment')?.find((e) => e.startsWith('DATABASE_URL=')), `DATABASE_URL=/var/lib/${one('StateDirectory')}/pmf-scheduler.db`);
});

test('systemd unit: systemd-analyze verify finds nothing to say (ExecStart pointed at the built CLI)', () => {
  const dir = tempDir();
  try {
    const unit = join(dir.dir, 'pmf-scheduler.service');
    writeFileSync(unit, readFileSync(UNIT, 'utf8').replace(/^ExecStart=.*$/m, `ExecStart=${process.execPath} ${CLI_PATH} run`));
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 20_000 });
    assert.deepEqual([r.status, r.stdout, r.stderr], [0, '', ''], 'an unknown key is only a warning on stderr: none either');
  } finally {
    dir.cleanup();
  }
});
