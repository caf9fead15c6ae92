import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { until } from './wait.ts';

/**
 * The built CLI: beside the compiled tests (`npm test` runs dist/test/…, next to dist/src/cli.js), or dist/ from the
 * repository root when a test runs from source under tsx (build first: `npm run build`).
 */
export const CLI_PATH = ((): string => {
  const compiled = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
  return existsSync(compiled) ? compiled : fileURLToPath(new URL('../../dist/src/cli.js', import.meta.url));
})();

/** A spawned `pmf-scheduler` process, its output split into lines as it arrives. */
export interface CliProcess {
  child: ChildProcess;
  pid: number;
  stdout: string[];
  stderr: string[];
  /** Resolves with the exit code (null when killed by a signal) and the signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Waits (real time, bounded) for an output line matching `re` and returns it. */
  line(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends a signal to this process only (by its pid). */
  kill(signal: NodeJS.Signals): void;
}

/**
 * Spawns `node dist/src/cli.js …args` with `env` added to a minimal environment (no inherited settings), in `cwd`
 * (where a relative DATABASE_URL lands; the test runner's by default).
 */
export function spawnCli(args: string[], env: Record<string, string>, opts: { preload?: Record<string, string>; cwd?: string; uid?: number; gid?: number } = {}): CliProcess {
  const child = spawn(process.execPath, [CLI_PATH, ...args], {
    env: { PATH: process.env.PATH ?? '', NO_COLOR: '1', ...opts.preload, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    cwd: opts.cwd,
    uid: opts.uid,
    gid: opts.gid,
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  const split = (into: string[]) => {
    let rest = '';
    return (chunk: Buffer) => {
      const text = rest + chunk.toString('utf8');
      const lines = text.split('\n');
      rest = lines.pop()!;
      into.push(...lines);
    };
  };
  child.stdout!.on('data', split(stdout));
  child.stderr!.on('data', split(stderr));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.on('close', (code, signal) => resolve({ code, signal, at: performance.now() })),
  );
  return {
    child,
    pid: child.pid!,
    stdout,
    stderr,
    exited,
    async line(re, timeoutMs = 10_000) {
      let found: string | undefined;
      await until(() => (found = [...stdout, ...stderr].find((l) => re.test(l))) !== undefined, `a line matching ${re}`, timeoutMs);
      return found!;
    },
    kill(signal) {
      if (child.exitCode === null && child.signalCode === null) process.kill(child.pid!, signal);
    },
  };
}

/** The environment of a quiet spawned agent: every second, no readiness wait, no Miguel, no startup cycle. */
export function everySecondAgent(diegoUrl: string, databaseUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return { DIEGO_URL: diegoUrl, CRON_PATTERN: '* * * * * *', WAIT_FOR_READY: 'false', MIGUEL_URL: '', RUN_ON_START: 'false', DATABASE_URL: databaseUrl, ...extra };
}

/** Runs `pmf-scheduler …args` to its end (bounded): its exit code, its output, and when it exited (wall clock). */
export async function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 20_000): Promise<{ code: number | null; out: string; err: string; exitedAt: number }> {
  const p = spawnCli(args, env);
  try {
    const { code } = await Promise.race([
      p.exited,
      new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`pmf-scheduler ${args.join(' ')} did not end within ${timeoutMs} ms`)), timeoutMs).unref()),
    ]);
    return { code, out: p.stdout.join('\n'), err: p.stderr.join('\n'), exitedAt: Date.now() };
  } finally {
    p.kill('SIGKILL');
  }
}

/**
 * `pmf-scheduler …args` on a real pseudo-terminal `columns` wide (util-linux `script`), colours off: what it printed,
 * carriage returns removed. For what a person sees in a terminal: the width the CLI reads from its stdout.
 */
export function onTerminal(args: string[], columns: number, env: Record<string, string> = {}): string {
  const quote = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const command = `stty cols ${columns}; exec ${[process.execPath, CLI_PATH, ...args].map(quote).join(' ')}`;
  const out = execFileSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, ...env, NO_COLOR: '1' } });
  return out.replace(/\r/g, '');
}
