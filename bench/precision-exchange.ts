// Fire precision on the exchange's clock (issue 23 §1), beside today's: our agent (the real CLI) on `* * * * * *`,
// once on its own clock (FIRE_CLOCK=local, lateness against our boundary) and once with FIRE_CLOCK=exchange against
// a fake exchange whose clock runs --offset-ms ahead of ours, its time answers held 0–--jitter-ms before and after
// the time is read (lateness against the exchange's boundary: the arrival stamp plus the offset). Run by
// `npm run bench:precision` after the other senders, or alone:
//   node dist/bench/precision-exchange.js [--slots 120] [--offset-ms 700] [--jitter-ms 2] [--out file.json]
import { spawn } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { startFakeExchange } from '../test/helpers/fake-exchange.ts';
import { flag, intFlag } from './lib/args.ts';
import { sleep, stopChild } from './lib/proc.ts';
import { startReceiver, type Arrival, type Receiver } from './lib/receiver.ts';
import { fmt, summarize, type Summary } from './lib/stats.ts';
import { renderTable } from './lib/table.ts';

const WARMUP_MS = 3500;
const SETTLE_MS = 1500;
const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');

export interface ExchangeCaseResult {
  sender: 'agent (local clock)' | 'agent (exchange clock)';
  /** How far the clock the slots are measured on is ahead of ours (0 for ours). */
  offsetMs: number;
  slots: number;
  fires: number;
  early: number;
  /** Slot → send, and slot → arrival, on the clock the slots are the moments of. */
  scheduler: Summary;
  total: Summary;
  load: number;
}

/** One window of `slots` slots of one agent, lateness measured on a clock `offsetMs` ahead of ours. */
async function window(receiver: Receiver, dir: string, slots: number, offsetMs: number, env: Record<string, string>): Promise<ExchangeCaseResult> {
  receiver.arrivals.length = 0;
  const name = offsetMs === 0 ? 'local' : 'exchange';
  const log = openSync(join(dir, `${name}.log`), 'w');
  const child = spawn(process.execPath, [join(root, 'dist/src/cli.js'), 'run'], {
    stdio: ['ignore', log, log],
    cwd: root,
    env: { ...process.env, DIEGO_URL: receiver.url, CRON_PATTERN: '* * * * * *', RUN_ON_START: 'false', WAIT_FOR_READY: 'false', MIGUEL_URL: '', STATS_INTERVAL_MS: '0', DATABASE_URL: join(dir, `${name}.db`), LOG_FORMAT: 'json', ...env },
  });
  closeSync(log);
  const first = Math.ceil((Date.now() + offsetMs + WARMUP_MS) / 1000) * 1000; // on the measured clock
  await sleep(first + slots * 1000 + SETTLE_MS - offsetMs - Date.now());
  await stopChild(child);
  const on = (a: Arrival) => ({ sent: a.sentAt + offsetMs, arrived: a.arrivedAt + offsetMs });
  const perSlot = new Map<number, { sent: number; arrived: number }>();
  for (const a of receiver.arrivals.map(on)) {
    const slot = Math.round(a.sent / 1000) * 1000;
    if (slot >= first && slot < first + slots * 1000 && !perSlot.has(slot)) perSlot.set(slot, a);
  }
  const list = [...perSlot.entries()];
  return {
    sender: offsetMs === 0 ? 'agent (local clock)' : 'agent (exchange clock)',
    offsetMs,
    slots,
    fires: list.length,
    early: list.filter(([slot, a]) => a.sent < slot).length,
    scheduler: summarize(list.map(([slot, a]) => a.sent - slot)),
    total: summarize(list.map(([slot, a]) => a.arrived - slot)),
    load: loadavg()[0]!,
  };
}

/** Both windows, today's then the exchange's, against `receiver`; the table to print and the results. */
export async function exchangeCase(receiver: Receiver, opts: { slots: number; offsetMs?: number; jitterMs?: number }): Promise<{ table: string; results: ExchangeCaseResult[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'pmf-bench-exchange-'));
  const offsetMs = opts.offsetMs ?? 700;
  const ex = await startFakeExchange({ offsetMs, jitterMs: opts.jitterMs ?? 2 });
  try {
    process.stderr.write(`  exchange clock: today's agent, then FIRE_CLOCK=exchange (+${offsetMs} ms), ${opts.slots} s each...\n`);
    const results = [
      await window(receiver, dir, opts.slots, 0, {}),
      await window(receiver, dir, opts.slots, offsetMs, { EXCHANGE_TIME_URL: ex.url, FIRE_CLOCK: 'exchange', CLOCK_CHECK_INTERVAL_MS: '60000', CLOCK_SKEW_WARN_MS: '1000' }),
    ];
    const ms = (s: Summary) => [fmt(s.p50), fmt(s.p95), fmt(s.p99), fmt(s.max)];
    const table = renderTable(
      ['agent', 'measured on', 'fires', 'early', 'sched p50', 'p95', 'p99', 'max', 'arrival p50', 'p95', 'p99', 'max', 'load'],
      results.map((r) => [r.sender, r.offsetMs === 0 ? 'our clock' : `exchange (+${r.offsetMs} ms)`, `${r.fires}/${r.slots}`, String(r.early), ...ms(r.scheduler), ...ms(r.total), fmt(r.load, 1)]),
    );
    return { table, results };
  } finally {
    await ex.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const argv = process.argv.slice(2);
  const receiver = await startReceiver();
  try {
    const { table, results } = await exchangeCase(receiver, { slots: intFlag(argv, 'slots', 120), offsetMs: intFlag(argv, 'offset-ms', 700), jitterMs: Number(flag(argv, 'jitter-ms') ?? 2) });
    process.stdout.write(`Fire precision on the exchange's clock, lateness in ms (sched = slot → send, arrival = slot → arrival at Diego):\n${table}\n`);
    const out = flag(argv, 'out');
    if (out) writeFileSync(out, JSON.stringify(results, null, 2));
  } finally {
    await receiver.close();
  }
}
