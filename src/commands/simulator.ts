import { startSimulator } from '../diego/simulator.ts';
import { intOption, numberOption } from './args.ts';
import { errorLine } from '../log/error-line.ts';
import type { Io } from './context.ts';
import { textOption } from './options.ts';
import { runCommand } from './run.ts';

/**
 * Why the simulator could not listen, as one line and its exit code: an address that is not this machine's, or not an
 * address at all, is the argument (2); a port in use or reserved may be free later or for another user (1).
 */
function listenFailure(err: unknown, host: string, port: number): { code: 1 | 2; line: string } {
  const code = (err as { code?: unknown } | null)?.code;
  const reason = errorLine(err);
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN' || code === 'EADDRNOTAVAIL' || code === 'EINVAL') {
    return { code: 2, line: `Invalid --host ${JSON.stringify(host)}: expected an address of this machine such as 127.0.0.1, 0.0.0.0 or ::1 (${reason})` };
  }
  if (code === 'EADDRINUSE') return { code: 1, line: `Cannot listen on ${host}:${port}: the port is in use; choose another with --port (${reason})` };
  if (code === 'EACCES') return { code: 1, line: `Cannot listen on ${host}:${port}: not allowed for this user; choose a port above 1023 with --port (${reason})` };
  throw err;
}

/** `pmf-scheduler simulator`: the built-in Diego until a signal. */
export async function simulatorCommand(io: Io, opts: Record<string, string>): Promise<number> {
  const host = textOption('host', opts.host) ?? '127.0.0.1';
  const port = intOption('port', opts.port, 3001, 0, 65535);
  let sim;
  try {
    sim = await startSimulator({
      host,
      port,
      failRate: numberOption('fail-rate', opts['fail-rate'], 0.1, 0, 1),
      latencyMs: intOption('latency-ms', opts['latency-ms'], 200, 0, 600_000),
      onRequest: (r) => io.out(`[${new Date(r.at).toISOString()}] [SIMULATOR] ${r.method} ${r.path} ${r.status} idempotency-key=${String(r.headers['idempotency-key'] ?? '-')}`),
    });
  } catch (err) {
    const failure = listenFailure(err, host, port);
    io.err(`pmf-scheduler: ${failure.line}`);
    return failure.code;
  }
  io.out(`Diego simulator listening on ${sim.url} (GET /health, POST /analyze)`);
  await new Promise<void>((resolve) => io.onSignal(() => resolve()));
  await sim.close();
  io.out(`Simulator stopped after ${sim.requests} /analyze requests`);
  return 0;
}

/** `pmf-scheduler demo`: the simulator with some failures and the agent every 5 s against it. */
export async function demoCommand(io: Io, opts: Record<string, string>): Promise<number> {
  const db = opts.db ?? './data/demo.db';
  const sim = await startSimulator({ port: 0, failRate: 0.25, latencyMs: 150 });
  io.out(`Demo: Diego simulator on ${sim.url} (25% of answers fail, so retries show); agent every 5 s; history in ${db}`);
  const self = io.self ?? 'npx pmf-scheduler';
  io.out(`Look at the results while it runs or after Ctrl-C:  ${self} history --db ${db}   and   ${self} stats --db ${db}`);
  try {
    return await runCommand(io, {}, {
      DIEGO_URL: sim.url,
      MIGUEL_URL: sim.url,
      CRON_PATTERN: '*/5 * * * * *',
      RETRY_DELAY_MS: '1000',
      DIEGO_TIMEOUT_MS: '4000',
      DATABASE_URL: db,
      STATS_INTERVAL_MS: '60000',
    });
  } finally {
    await sim.close();
  }
}
