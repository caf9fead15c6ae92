import { main, type Io } from '../../src/commands/main.ts';

/** What one in-process CLI run printed, and its exit code. */
export interface MainRun {
  code: number;
  out: string[];
  err: string[];
  /** stdout as one string. */
  text: string;
}

/**
 * Runs `pmf-scheduler …argv` in-process with only `env` as its environment (nothing inherited) and output captured.
 * `tty` makes it colour its output as on a terminal; `columns` is that terminal's width.
 */
export async function runMain(argv: string[], env: Record<string, string> = {}, opts: { tty?: boolean; columns?: number } = {}): Promise<MainRun> {
  const out: string[] = [];
  const err: string[] = [];
  const io: Io = { env, out: (l) => out.push(l), err: (l) => err.push(l), isTTY: opts.tty ?? false, columns: opts.columns, onSignal: () => {}, pid: process.pid };
  const code = await main(argv, io);
  return { code, out, err, text: out.join('\n') };
}
