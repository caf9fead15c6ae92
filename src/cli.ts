#!/usr/bin/env node
import process from 'node:process';
import { setFlagsFromString } from 'node:v8';
import { main } from './commands/main.ts';

// The one place that touches the real process: argv, env, streams, signals, exit.

// Node's fetch parses HTTP with a WebAssembly module (undici's llhttp) that V8 recompiles with its optimizing
// compiler in the background after the first requests: a ~30 MiB transient that alone set the agent's peak RSS
// (102 → 73 MiB, docs/benchmarks.md). Baseline-compiled code parses one answer per slot just as well. Set before
// the first request compiles the module; a runtime without this V8 flag simply keeps its default.
try {
  setFlagsFromString('--liftoff-only');
} catch {
  // not Node's V8 (Deno): nothing to change
}
let signals = 0;
const handlers: ((signal: string) => void)[] = [];
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (++signals > 1) {
      process.stderr.write(`Received ${sig} again: exiting at once\n`);
      process.exit(1);
    }
    for (const h of handlers) h(sig);
  });
}
const fatal = (kind: string) => (err: unknown) => {
  process.stderr.write(`[${new Date().toISOString()}] [SCHEDULER] ${kind}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
};
process.on('uncaughtException', fatal('Uncaught exception'));
process.on('unhandledRejection', fatal('Unhandled rejection'));

// A promise chain, not top-level await: the single binary's bundle is CommonJS, which has none.
void main(process.argv.slice(2), {
  env: process.env,
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
  isTTY: Boolean(process.stdout.isTTY),
  columns: process.stdout.isTTY ? process.stdout.columns : undefined,
  onSignal: (h) => handlers.push(h),
  pid: process.pid,
}).then((code) => {
  // Let buffered output reach a pipe before exiting.
  process.stdout.write('', () => process.exit(code));
});
