// Fire precision, side by side: our agent (the real CLI) and croner, node-cron 4 and cron-schedule 6 (each posting
// with fetch), one after another on `* * * * * *`, idle and with one busy core. A receiver in this process stamps
// each arrival; each sender stamps its send time into X-Sent-At, so lateness splits into scheduler and transfer.
//   node dist/bench/precision.js [--slots 300] [--senders limit,agent,croner,node-cron,cron-schedule] [--conditions idle,busy] [--out file.json]
// `limit` (precision-limit.ts) is what the machine allows: a warm connection, the bytes prepared, one write at the
// boundary; each sender's arrival is then also printed as a ratio to it.
// `--senders agent-hanging-alerts` is our agent with a webhook and a Healthchecks URL that never answer: what
// notifications cost the slots (nothing, if delivery stays off their path).
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, openSync, closeSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag, intFlag, listFlag } from './lib/args.ts';
import { busyCore, peakRssMiB, sleep, stopChild } from './lib/proc.ts';
import { startReceiver, type Arrival, type Receiver } from './lib/receiver.ts';
import { fmt, summarize, type Summary } from './lib/stats.ts';
import { renderTable } from './lib/table.ts';
import { limitTable } from './lib/limit-ratio.ts';
import { exchangeCase } from './precision-exchange.ts';

const PATTERN = '* * * * * *';
/** Time a sender gets to start and warm its connection before its counted window opens. */
const WARMUP_MS = 2500;
/** Time after the window for the last requests to arrive. */
const SETTLE_MS = 1500;

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const argv = process.argv.slice(2);
const slots = intFlag(argv, 'slots', 300);
const senders = listFlag(argv, 'senders', ['limit', 'agent', 'croner', 'node-cron', 'cron-schedule']);
const conditions = listFlag(argv, 'conditions', ['idle', 'busy']);
const out = flag(argv, 'out');

/** What one sender did over its window of slots. */
interface PrecisionResult {
  sender: string;
  condition: string;
  slots: number;
  fires: number;
  missed: number;
  duplicates: number;
  early: number;
  scheduler: Summary;
  transfer: Summary;
  total: Summary;
  peakRssMiB: number;
  /** The machine's 1-minute load average at the end: other work on this shared 2-core machine shows here. */
  load: number;
  /** Per slot fired, in slot order: slot, scheduler lateness, transfer (for the JSON file only). */
  samples: [slot: number, scheduler: number, transfer: number][];
}

/** A server that takes every request and never answers (a hung webhook), for `agent-hanging-alerts`. */
function startHangingServer(): Promise<{ url: string; close(): Promise<void> }> {
  const server = createServer(() => {});
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        close: () => new Promise<void>((done) => (server.closeAllConnections(), server.close(() => done()))),
      }),
    ),
  );
}
let hanging: { url: string; close(): Promise<void> } | undefined;

function startSender(name: string, url: string, dir: string): ChildProcess {
  const log = openSync(join(dir, `${name}.log`), 'w');
  const opts = { stdio: ['ignore', log, log] as ['ignore', number, number], cwd: root };
  const child =
    name.startsWith('agent')
      ? spawn(process.execPath, [join(root, 'dist/src/cli.js'), 'run'], {
          ...opts,
          env: {
            ...process.env,
            DIEGO_URL: url,
            CRON_PATTERN: PATTERN,
            RUN_ON_START: 'false',
            WAIT_FOR_READY: 'false',
            MIGUEL_URL: '',
            STATS_INTERVAL_MS: '0',
            DATABASE_URL: join(dir, `${name}.db`),
            LOG_FORMAT: 'json',
            ...(name === 'agent-hanging-alerts' && hanging ? { ALERT_WEBHOOK_URL: `${hanging.url}/hook`, HEALTHCHECK_PING_URL: `${hanging.url}/ping` } : {}),
          },
        })
      : name === 'limit'
        ? spawn(process.execPath, [join(here, 'precision-limit.js'), url], opts)
        : spawn(process.execPath, [join(here, 'precision-sender.js'), name, url, PATTERN], opts);
  closeSync(log);
  return child;
}

/**
 * Slots are attributed to the nearest whole second of the send time, so a fire just before its slot counts as
 * early (negative lateness) rather than as a very late fire of the previous slot.
 */
function evaluate(sender: string, condition: string, arrivals: readonly Arrival[], first: number, count: number, rss: number): PrecisionResult {
  const end = first + count * 1000;
  const perSlot = new Map<number, Arrival[]>();
  for (const a of arrivals) {
    const slot = Math.round(a.sentAt / 1000) * 1000;
    if (slot < first || slot >= end) continue;
    perSlot.set(slot, [...(perSlot.get(slot) ?? []), a]);
  }
  const firstOf = [...perSlot.entries()].map(([slot, list]) => ({ slot, a: list[0]! }));
  return {
    sender,
    condition,
    slots: count,
    fires: perSlot.size,
    missed: count - perSlot.size,
    duplicates: [...perSlot.values()].reduce((n, list) => n + list.length - 1, 0),
    early: [...perSlot.values()].flat().filter((a) => a.sentAt < Math.round(a.sentAt / 1000) * 1000).length,
    scheduler: summarize(firstOf.map(({ slot, a }) => a.sentAt - slot)),
    transfer: summarize(firstOf.map(({ a }) => a.arrivedAt - a.sentAt)),
    total: summarize(firstOf.map(({ slot, a }) => a.arrivedAt - slot)),
    peakRssMiB: rss,
    load: loadavg()[0]!,
    samples: firstOf.sort((x, y) => x.slot - y.slot).map(({ slot, a }) => [slot, a.sentAt - slot, a.arrivedAt - a.sentAt]),
  };
}

async function measure(sender: string, condition: string, receiver: Receiver, dir: string): Promise<PrecisionResult> {
  receiver.arrivals.length = 0;
  const child = startSender(sender, receiver.url, dir);
  const first = Math.ceil((Date.now() + WARMUP_MS) / 1000) * 1000;
  const end = first + slots * 1000;
  await sleep(end + SETTLE_MS - Date.now());
  const rss = child.pid !== undefined ? peakRssMiB(child.pid) : Number.NaN;
  const died = child.exitCode !== null;
  await stopChild(child);
  if (died) process.stderr.write(`${sender} exited early (code ${child.exitCode}); see ${join(dir, `${sender}.log`)}:\n${readFileSync(join(dir, `${sender}.log`), 'utf8').slice(-2000)}\n`);
  return evaluate(sender, condition, receiver.arrivals, first, slots, rss);
}

/** The side-by-side table for one condition. */
function precisionTable(results: readonly PrecisionResult[]): string {
  const ms = (s: Summary) => [fmt(s.p50), fmt(s.p95), fmt(s.p99), fmt(s.max)];
  return renderTable(
    ['scheduler', 'fires', 'missed', 'dup', 'early', 'sched p50', 'p95', 'p99', 'max', 'transfer p50', 'p95', 'p99', 'max', 'total p50', 'total p99', 'peak RSS MiB', 'load'],
    results.map((r) => [r.sender, String(r.fires), String(r.missed), String(r.duplicates), String(r.early), ...ms(r.scheduler), ...ms(r.transfer), fmt(r.total.p50), fmt(r.total.p99), fmt(r.peakRssMiB, 1), fmt(r.load, 1)]),
  );
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'pmf-bench-precision-'));
  const receiver = await startReceiver();
  if (senders.includes('agent-hanging-alerts')) hanging = await startHangingServer();
  const results: PrecisionResult[] = [];
  process.stdout.write(`Fire precision: ${PATTERN}, ${slots} slots per scheduler, lateness in ms (scheduler = slot → send, transfer = send → arrival)\n`);
  try {
    for (const condition of conditions) {
      const busy = condition === 'busy' ? busyCore() : undefined;
      try {
        for (const sender of senders) {
          process.stderr.write(`  ${condition}: ${sender} (${slots} s)...\n`);
          results.push(await measure(sender, condition, receiver, dir));
        }
      } finally {
        await busy?.stop();
      }
      process.stdout.write(`\n${condition === 'busy' ? 'One busy core' : 'Idle'}:\n${precisionTable(results.filter((r) => r.condition === condition))}\n`);
      const ratios = limitTable(results.filter((r) => r.condition === condition));
      if (ratios) process.stdout.write(`\nArrival (slot → arrival at the receiver) against the limit:\n${ratios}\n`);
    }
    // The exchange's clock (issue 23 §1): today's agent beside FIRE_CLOCK=exchange, idle (precision-exchange.ts).
    if (senders.includes('agent') && conditions.includes('idle')) process.stdout.write(`\nIdle, on the exchange's clock (+700 ms):\n${(await exchangeCase(receiver, { slots: Math.min(slots, 120) })).table}\n`);
  } finally {
    await receiver.close();
    await hanging?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  if (out) writeFileSync(out, JSON.stringify(results, null, 2));
}

await main();
