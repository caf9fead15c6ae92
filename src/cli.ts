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
// SIGHUP too: closing the terminal or the SSH session the agent runs in sends it, and its default action kills the
// process at once, leaving the cycle in flight `running` while Diego may still answer (issue 24 item 8).
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (++signals > 1) {
      stderr.write(`Received ${sig} again: exiting at once\n`);
      process.exit(1);
    }
    for (const h of handlers) h(sig);
  });
}
const stdout = survivableStream(process.stdout, 'stdout');
const stderr = survivableStream(process.stderr, 'stderr');
const fatal = (kind: string) => (err: unknown) => {
  stderr.write(`[${new Date().toISOString()}] [SCHEDULER] ${kind}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
};
process.on('uncaughtException', fatal('Uncaught exception'));
process.on('unhandledRejection', fatal('Unhandled rejection'));

// A promise chain, not top-level await: the single binary's bundle is CommonJS, which has none.
void main(process.argv.slice(2), {
  env: process.env,
  out: (text) => stdout.write(`${text}\n`),
  err: (text) => stderr.write(`${text}\n`),
  isTTY: Boolean(process.stdout.isTTY),
  columns: process.stdout.isTTY ? process.stdout.columns : undefined,
  onSignal: (h) => handlers.push(h),
  pid: process.pid,
  // The single binary is not an npm package: its hints name it as it was typed (`./pmf-scheduler demo`).
  self: process.getBuiltinModule?.('node:sea')?.isSea() ? process.argv0 : undefined,
}).then((code) => {
  // Let buffered output reach a pipe before exiting (a closed one has nothing left to take).
  if (stdout.closed) process.exit(code);
  else process.stdout.write('', () => process.exit(code));
});

/**
 * A standard stream whose reader may go away (`run | head -8`, a closed terminal): Node then emits EPIPE as an
 * 'error' event, which without a listener is an uncaught exception that killed the agent mid-cycle and left a cycle
 * Diego had answered recorded `interrupted` (issue 24 item 7). Output is never a reason to stop: once closed, the
 * stream's lines are dropped, and said once on the other stream (if that one is still open).
 */
function survivableStream(stream: NodeJS.WriteStream, name: 'stdout' | 'stderr') {
  let closed = false;
  const close = (err: unknown) => {
    if (closed) return;
    closed = true;
    const other = name === 'stdout' ? stderr : stdout;
    const code = (err as NodeJS.ErrnoException | undefined)?.code ?? String(err);
    other?.write(`[${new Date().toISOString()}] [SCHEDULER] ${name} was closed (${code}): its lines are dropped from now on; the agent goes on\n`);
  };
  stream.on('error', close);
  return {
    get closed() {
      return closed;
    },
    write(text: string) {
      if (closed) return;
      try {
        stream.write(text);
      } catch (err) {
        close(err);
      }
    },
  };
}
