import { execFile, execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A PostgreSQL server of the test's own, in a temp dir on a free loopback port, for tests that stop and start the
 * server (the machine's shared one serves other tests concurrently and must never be stopped).
 */
export interface PrivatePostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres` (trust auth). */
  url: string;
  port: number;
  start(): Promise<void>;
  /** A fast shutdown: sessions are cut, as when a server goes down. */
  stop(): Promise<void>;
  /** Stops it (immediately) if it runs, by the PID in its postmaster.pid, and removes its directory. */
  destroy(): Promise<void>;
}

/** The newest installed PostgreSQL's bin directory (Debian: /usr/lib/postgresql/<major>/bin). */
function postgresBin(): string {
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root) ? readdirSync(root).filter((d) => /^\d+$/.test(d)).sort((a, b) => Number(b) - Number(a)) : [];
  if (majors.length === 0) throw new Error(`No PostgreSQL server binaries under ${root}: the private-server tests need initdb and pg_ctl`);
  return join(root, majors[0]!, 'bin');
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Creates (initdb) a private cluster, not started yet. initdb refuses to run as root, so as root every server
 * command runs as the `postgres` OS user (`runuser`), in a temp dir that user owns.
 */
export async function createPrivatePostgres(): Promise<PrivatePostgres> {
  const bin = postgresBin();
  const dir = mkdtempSync(join(tmpdir(), 'pmf-pg-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  if (asRoot) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    chownSync(dir, id('-u'), id('-g'));
  }
  const pgCommand = (tool: string, args: string[]) => (asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args));
  const port = await freePort();
  try {
    await pgCommand('initdb', ['-D', data, '-A', 'trust', '-U', 'postgres', '--no-sync', '-E', 'UTF8']);
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  // Its socket goes in its own directory; fsync off: this server's data is thrown away after the test.
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off`;
  const ctl = (args: string[]) => pgCommand('pg_ctl', ['-D', data, '-l', join(dir, 'server.log'), ...args]);
  const pidFile = join(data, 'postmaster.pid');
  /** Sends PostgreSQL's immediate shutdown to the postmaster by its PID; false when none runs. */
  const quit = (): boolean => {
    if (!existsSync(pidFile)) return false;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    try {
      if (Number.isInteger(pid) && pid > 0) process.kill(pid, 'SIGQUIT');
      return true;
    } catch {
      return false; // already gone
    }
  };
  // A test process that exits without its cleanup (a crash, an interrupt) still leaves no server behind.
  const onExit = () => {
    quit();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    start: async () => void (await ctl(['-o', options, '-w', '-t', '30', 'start'])),
    stop: async () => void (await ctl(['-m', 'fast', '-w', '-t', '30', 'stop'])),
    async destroy() {
      process.removeListener('exit', onExit);
      if (quit()) for (let i = 0; i < 100 && existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 50));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
