import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { HEARTBEAT_INTERVAL_MS } from '../../src/agent/upkeep/heartbeat.ts';
import { startAgents, type AgentGroup } from '../helpers/agent-harness.ts';
import { spawnCli } from '../helpers/cli-process.ts';
import { startDiegoStub } from '../helpers/diego-stub.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { until, within } from '../helpers/wait.ts';

// systemd's side of a `Type=notify` service with WatchdogSec (deploy/systemd/pmf-scheduler.service): the agent says
// READY=1, feeds the watchdog with every heartbeat, and says STOPPING=1.

// Receives datagrams as systemd does: each message's text on a line, and any file descriptor sent with it dropped
// (not received), which closes it: systemd-notify's BARRIER=1 waits for exactly that before it exits.
const RECEIVER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    sys.stdout.write(s.recv(4096).decode() + '\\n')
    sys.stdout.flush()
`;

/**
 * A real unix datagram socket like systemd's NOTIFY_SOCKET (Python's: Node has none), and the states received on it;
 * the BARRIER=1 messages of systemd-notify are left out.
 */
async function notifySocket(dir: string) {
  const path = join(dir, 'notify.sock');
  const receiver = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  receiver.stdout.on('data', (c: Buffer) => (text += c.toString('utf8')));
  const exited = new Promise((resolve) => receiver.on('close', resolve));
  await until(() => existsSync(path), 'the receiver to bind the socket');
  return {
    path,
    states: () => [...text.matchAll(/[A-Z]+=[^\nA-Z]*/g)].map((m) => m[0].trim()).filter((s) => s !== 'BARRIER=1'),
    async close() {
      if (receiver.exitCode === null) receiver.kill('SIGTERM');
      await exited;
    },
  };
}

test('the built agent under NOTIFY_SOCKET: READY=1 and a first WATCHDOG=1 at start, STOPPING=1 at SIGTERM, on a real datagram socket', async () => {
  const tmp = tempDir();
  const stub = await startDiegoStub([{ status: 200 }]);
  let socket: Awaited<ReturnType<typeof notifySocket>> | undefined;
  let agent: ReturnType<typeof spawnCli> | undefined;
  try {
    socket = await notifySocket(tmp.dir);
    const s = socket;
    agent = spawnCli(['run'], { NOTIFY_SOCKET: s.path, DIEGO_URL: stub.url, MIGUEL_URL: '', DATABASE_URL: join(tmp.dir, 'h.db'), CRON_PATTERN: '0 0 * * * *', RUN_ON_START: 'false' });
    await until(() => s.states().includes('WATCHDOG=1'), 'READY=1 and WATCHDOG=1', 10_000);
    agent.kill('SIGTERM');
    assert.equal((await within(agent.exited, 10_000, 'the agent to stop')).code, 0, agent.stderr.join('\n'));
    await until(() => s.states().includes('STOPPING=1'), 'STOPPING=1', 10_000);
    assert.deepEqual(s.states(), ['READY=1', 'WATCHDOG=1', 'STOPPING=1']);
    assert.deepEqual(agent.stderr.filter(Boolean), [], 'no warning: systemd-notify ran');
  } finally {
    agent?.kill('SIGKILL');
    await socket?.close();
    await stub.close();
    tmp.cleanup();
  }
});

test('the watchdog is fed by the heartbeat: WATCHDOG=1 every HEARTBEAT_INTERVAL_MS of the agent clock, READY=1 first, STOPPING=1 last', async () => {
  const tmp = tempDir();
  const stub = await startDiegoStub([{ status: 200 }]);
  const told: { state: string; at: number }[] = [];
  let group: AgentGroup | undefined;
  try {
    const slots = Math.ceil((3.5 * HEARTBEAT_INTERVAL_MS) / 1000);
    group = await startAgents({ path: join(tmp.dir, 'h.db'), env: { DIEGO_URL: stub.url }, slots, notify: (_, state, at) => told.push({ state, at }) });
    assert.deepEqual(await within(group.exits, 15_000, 'the agent to stop'), [0]);
    assert.equal(told[0]!.state, 'READY=1');
    assert.equal(told.at(-1)!.state, 'STOPPING=1');
    const pings = told.filter((t) => t.state === 'WATCHDOG=1').map((t) => t.at);
    assert.ok(pings.length >= 4, `${pings.length} watchdog pings in ${slots} s`);
    for (let i = 1; i < pings.length; i++) {
      const gap = pings[i]! - pings[i - 1]!;
      assert.ok(gap >= HEARTBEAT_INTERVAL_MS && gap < HEARTBEAT_INTERVAL_MS + 2_000, `gap ${gap}`);
    }
  } finally {
    await group?.close();
    await stub.close();
    tmp.cleanup();
  }
});
