// Cost per cycle and footprint: the real agent (runAgent: scheduler, cycle, Diego client, SQLite store, logger)
// in this process, on `* * * * * *` with a fast clock, against the built-in simulator (instant answers) in a child
// process, for 10,000 cycles. Reports CPU per cycle, RSS at 1,000 and at the end, and database bytes per 1,000.
// Each run is its own process (so one run's memory does not carry into the next), sharing one simulator.
//   node --expose-gc dist/bench/cost.js [--cycles 10000] [--runs 1] [--synchronous normal|full] [--out file.json]
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, openSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { sql } from 'kysely';
import { runAgent } from '../src/agent/agent.ts';
import { composeAgent } from '../src/agent/wiring.ts';
import type { Clock } from '../src/time/clock.ts';
import { formatProblem, parseConfig } from '../src/config.ts';
import { createLogger } from '../src/log/logger.ts';
import { createRedactor } from '../src/log/redact.ts';
import { openDatabase } from '../src/store/open.ts';
import type { HistoryStore } from '../src/store/port.ts';
import { flag, intFlag } from './lib/args.ts';
import { stopChild } from './lib/proc.ts';
import { medianSpread } from './lib/stats.ts';
import { renderTable } from './lib/table.ts';

// As src/cli.ts does for the agent process: no background recompilation of undici's WebAssembly parser.
setFlagsFromString('--liftoff-only');

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const argv = process.argv.slice(2);
const total = intFlag(argv, 'cycles', 10_000);
const runs = intFlag(argv, 'runs', 1);
const out = flag(argv, 'out');
/** `normal` or `full` overrides the agent's own setting (FULL) on its connection, to compare the two. */
const synchronous = flag(argv, 'synchronous');
/** Internal: run one measurement against this simulator and print its result as JSON (the parent spawns these). */
const childOf = flag(argv, 'child-of');
const FIRST = Math.min(1000, total);
const T0 = Date.UTC(2024, 0, 22, 10, 0, 0);

interface CostResult {
  cycles: number;
  wallSeconds: number;
  cpuMsPerCycle: number;
  rssMiBAtFirst: number;
  rssMiBAtEnd: number;
  rssGrowthMiB: number;
  heapMiBAtFirst: number;
  heapMiBAtEnd: number;
  /** V8 heap reserved (used or not) and memory outside it (buffers, native objects), at the end. */
  heapTotalMiBAtEnd: number;
  externalMiBAtEnd: number;
  dbBytesPer1000: number;
}

/** The built-in simulator (`pmf-scheduler simulator`, no latency, no failures) in its own process. */
async function startSimulatorProcess(): Promise<{ url: string; stop(): Promise<void> }> {
  const child = spawn(process.execPath, [join(root, 'dist/src/cli.js'), 'simulator', '--port', '0', '--fail-rate', '0', '--latency-ms', '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const url = await new Promise<string>((ok, fail) => {
    lines.on('line', (l) => {
      const m = /listening on (http:\/\/\S+)/.exec(l);
      if (m) ok(m[1]!);
    });
    child.once('exit', () => fail(new Error('the simulator exited before listening')));
  });
  return { url, stop: () => stopChild(child) };
}

/**
 * A fast clock for one agent. Scheduling waits (those given the agent's stop signal) return at once and move the
 * clock on, but only once the previous cycle has ended, as real time would with an instant Diego; so do the short
 * waits with no signal (the last stretch before a slot). Every other wait (heartbeat, retention) is a timer on this
 * clock's time, so those chores run as often as they would in real time.
 */
function benchClock(stop: AbortSignal, idle: () => Promise<void>) {
  const realStart = performance.now();
  let skipped = 0;
  const timers = new Set<{ at: number; wake(): void }>();
  const now = () => Math.floor(T0 + (performance.now() - realStart) + skipped);
  const advance = (ms: number) => {
    skipped += Math.max(0, ms);
    for (const t of timers) if (t.at <= now()) t.wake();
  };
  const clock: Clock = {
    now,
    async sleep(ms, signal) {
      if (signal?.aborted) return;
      if (signal === stop) {
        await idle();
        if (!signal.aborted) advance(ms);
      } else if (signal === undefined) advance(ms);
      else {
        await new Promise<void>((resolve) => {
          const t = {
            at: now() + ms,
            wake: () => {
              timers.delete(t);
              signal.removeEventListener('abort', t.wake);
              resolve();
            },
          };
          timers.add(t);
          signal.addEventListener('abort', t.wake, { once: true });
        });
      }
      await new Promise((r) => setImmediate(r));
    },
  };
  return clock;
}

async function measure(diegoUrl: string): Promise<CostResult> {
  const dir = mkdtempSync(join(tmpdir(), 'pmf-bench-cost-'));
  const dbPath = join(dir, 'history.db');
  const parsed = parseConfig({
    DIEGO_URL: diegoUrl,
    CRON_PATTERN: '* * * * * *',
    RUN_ON_START: 'false',
    WAIT_FOR_READY: 'false',
    MIGUEL_URL: '',
    STATS_INTERVAL_MS: '0',
    DATABASE_URL: dbPath,
    // Each attempt's timeout is a live timer until it expires: 20 s of them at hundreds of cycles per second would
    // hold thousands of timers that a real agent (one cycle per slot) never has. The instant Diego answers in ~1 ms.
    DIEGO_TIMEOUT_MS: '1000',
  });
  if ('problems' in parsed) throw new Error(parsed.problems.map(formatProblem).join('; '));
  const config = parsed.config;
  const database = await openDatabase(config.database);
  if (synchronous) await sql.raw(`PRAGMA synchronous = ${synchronous === 'normal' ? 'NORMAL' : 'FULL'}`).execute(database.db);
  const redact = createRedactor([config.diegoToken]);
  const stop = new AbortController();

  // Cycles in flight, so the clock moves to the next slot only once the last cycle has ended.
  let active = 0;
  let onIdle: (() => void) | undefined;
  const idle = () => (active === 0 ? Promise.resolve() : new Promise<void>((r) => (onIdle = r)));
  let finished = 0;
  let mark: { cpu: number; rss: number; heap: number; bytes: number; at: number } | undefined;
  let end: CostResult | undefined;
  const pageBytes = async () => {
    const r = await sql<{ n: number }>`SELECT page_count * page_size AS n FROM pragma_page_count(), pragma_page_size()`.execute(database.db);
    return r.rows[0]!.n;
  };
  // With --expose-gc, memory is read after full collections with a pause between them, so the heap shows what is
  // retained (the pause lets finalizers drop the WeakRefs AbortSignal.any leaves behind).
  const gc = (globalThis as { gc?: () => void }).gc;
  const collect = async () => {
    gc?.();
    await new Promise((r) => setTimeout(r, 50));
    gc?.();
  };
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  // Counts what the agent writes, between the write queue and the real store.
  const counting = (real: HistoryStore): HistoryStore => ({
    ...real,
    async claimCycle(c) {
      active++;
      const id = await real.claimCycle(c);
      if (id === undefined) active--;
      return id;
    },
    async finishCycle(id, e) {
      await real.finishCycle(id, e);
      const n = ++finished; // this cycle's number: `finished` moves on while the measurement below awaits
      // A macrotask later, the agent has dropped the cycle from its in-flight map too.
      setImmediate(() => {
        active--;
        if (active === 0) onIdle?.();
      });
      // CPU is counted from after the first collection to before the last, so neither forced GC is in it.
      if (n === FIRST) {
        await collect();
        mark = { cpu: cpuMs(), rss: process.memoryUsage().rss, heap: process.memoryUsage().heapUsed, bytes: await pageBytes(), at: performance.now() };
      }
      if (n === total && mark) {
        const cpu = cpuMs();
        const wall = performance.now();
        const bytes = await pageBytes();
        await collect();
        const mem = process.memoryUsage();
        const counted = total - FIRST;
        end = {
          cycles: total,
          wallSeconds: (wall - mark.at) / 1000,
          cpuMsPerCycle: counted > 0 ? (cpu - mark.cpu) / counted : Number.NaN,
          rssMiBAtFirst: mark.rss / 2 ** 20,
          rssMiBAtEnd: mem.rss / 2 ** 20,
          rssGrowthMiB: (mem.rss - mark.rss) / 2 ** 20,
          heapMiBAtFirst: mark.heap / 2 ** 20,
          heapMiBAtEnd: mem.heapUsed / 2 ** 20,
          heapTotalMiBAtEnd: mem.heapTotal / 2 ** 20,
          externalMiBAtEnd: mem.external / 2 ** 20,
          dbBytesPer1000: counted > 0 ? (bytes - mark.bytes) / (counted / 1000) : Number.NaN,
        };
        stop.abort();
      }
    },
  });
  // Log lines go where a container's stdout would: a file descriptor, written synchronously.
  const devNull = openSync('/dev/null', 'w');
  const log = createLogger({
    format: 'pretty',
    level: 'info',
    colors: false,
    now: () => clock.now(),
    redact,
    sink: { out: (l) => writeSync(devNull, `${l}\n`), err: (l) => writeSync(devNull, `${l}\n`) },
  });
  const clock = benchClock(stop.signal, idle);
  try {
    const exit = await runAgent(
      composeAgent({
        config,
        clock,
        log,
        database,
        identity: { host: 'bench', pid: process.pid },
        isAlive: () => true,
        newId: randomUUID,
        stop: stop.signal,
        dump: (line) => process.stderr.write(`${line}\n`),
        wrapBackend: counting,
      }),
    );
    if (exit !== 0 || !end) throw new Error(`the agent stopped after ${finished} cycles (exit ${exit})`);
    const file = statSync(dbPath).size;
    process.stderr.write(`  ${total} cycles in ${end.wallSeconds.toFixed(1)} s after the first ${FIRST}; file ${(file / 2 ** 20).toFixed(1)} MiB\n`);
    return end;
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** One run in a fresh process of its own (this script with --child-of), its result read from its stdout. */
async function runChild(url: string): Promise<CostResult> {
  const args = ['--expose-gc', fileURLToPath(import.meta.url), '--child-of', url, '--cycles', String(total), ...(synchronous ? ['--synchronous', synchronous] : [])];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout!.on('data', (d: Buffer) => (text += d.toString('utf8')));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  if (code !== 0) throw new Error(`cost run exited with ${code}`);
  return JSON.parse(text) as CostResult;
}

async function main(): Promise<void> {
  if (childOf) {
    process.stdout.write(JSON.stringify(await measure(childOf)));
    return;
  }
  const sim = await startSimulatorProcess();
  const results: CostResult[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      process.stderr.write(`cost run ${i + 1}/${runs}...\n`);
      results.push(await runChild(sim.url));
    }
  } finally {
    await sim.stop();
  }
  const col = (pick: (r: CostResult) => number, digits = 2) => medianSpread(results.map(pick), digits);
  const setting = synchronous ? `synchronous=${synchronous.toUpperCase()}` : 'synchronous as the agent sets it (FULL)';
  process.stdout.write(`Cost per cycle: ${total} cycles of the real agent in-process (fast clock) against the simulator, ${setting}; ${runs} run(s), median (min–max)\n\n`);
  process.stdout.write(
    `${renderTable(
      ['CPU ms/cycle (after the first 1,000)', `RSS MiB at ${FIRST}`, `RSS MiB at ${total}`, 'RSS growth MiB', `heap used MiB at ${FIRST}`, `at ${total}`, `heap reserved MiB at ${total}`, `external MiB at ${total}`, 'DB KiB per 1,000 cycles'],
      [[col((r) => r.cpuMsPerCycle, 3), col((r) => r.rssMiBAtFirst, 1), col((r) => r.rssMiBAtEnd, 1), col((r) => r.rssGrowthMiB, 1), col((r) => r.heapMiBAtFirst, 1), col((r) => r.heapMiBAtEnd, 1), col((r) => r.heapTotalMiBAtEnd, 1), col((r) => r.externalMiBAtEnd, 1), col((r) => r.dbBytesPer1000 / 1024, 0)]],
    )}\n`,
  );
  if (out) writeFileSync(out, JSON.stringify(results, null, 2));
}

await main();
