#!/usr/bin/env node
// npm run dev [-- --sim] [agent options…]: the agent from source under `tsx watch`, restarted whenever a file it
// imports changes. With --sim the built-in simulator runs beside it (started once, never restarted) and DIEGO_URL
// and MIGUEL_URL point at it; other settings come from the environment as usual (e.g. CRON_PATTERN='*/5 * * * * *').
//
// The children run in their own process group and get signals only from here: a Ctrl-C reaches the agent once
// (through tsx), so it stops gracefully instead of taking a terminal's second copy as "exit at once". tsx kills an
// agent that has not stopped 5 s after a restart or Ctrl-C.
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const tsx = join(root, 'node_modules', '.bin', 'tsx');
const args = process.argv.slice(2);
const withSim = args.includes('--sim');
const agentArgs = args.filter((a) => a !== '--sim');
const start = (argv, opts) => spawn(tsx, argv, { cwd: root, detached: true, ...opts });

let sim;
let agent;
let stopping = false;
// The agent first: its in-flight cycle still needs the simulator, which stops once the agent has.
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    stopping = true;
    (agent ?? sim)?.kill(signal);
  });
}

/** Starts the simulator on a port the kernel picks and resolves to the URL it prints. */
function startSimulator() {
  sim = start(['src/cli.ts', 'simulator', '--port', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  sim.stdout.pipe(process.stdout);
  return new Promise((resolve, reject) => {
    let seen = '';
    const scan = (chunk) => {
      seen += chunk;
      const url = /listening on (http:\/\/\S+)/.exec(seen)?.[1];
      if (url === undefined) return;
      sim.stdout.off('data', scan);
      resolve(url);
    };
    sim.stdout.on('data', scan);
    sim.on('exit', (code, signal) => reject(new Error(`the simulator exited (${code ?? signal}) before listening`)));
  });
}

let env = process.env;
if (withSim) {
  try {
    const url = await startSimulator();
    env = { ...process.env, DIEGO_URL: url, MIGUEL_URL: url };
  } catch (err) {
    if (!stopping) process.stderr.write(`dev: ${err.message}\n`);
    process.exit(stopping ? 0 : 1);
  }
}
if (!stopping) {
  agent = start(['watch', '--clear-screen=false', 'src/cli.ts', 'run', ...agentArgs], { stdio: ['ignore', 'inherit', 'inherit'], env });
  agent.on('exit', (code, signal) => {
    stopping = true;
    sim?.kill('SIGTERM');
    process.exitCode = code ?? (signal ? 1 : 0);
  });
  sim?.on('exit', (code, signal) => {
    if (stopping) return;
    stopping = true;
    process.stderr.write(`dev: the simulator stopped (${code ?? signal}): stopping the agent\n`);
    agent.kill('SIGTERM');
  });
}
