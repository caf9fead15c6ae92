// Soak: the built agent (dist/src/cli.js) on `* * * * * *` for --minutes (default 30) against the built-in
// simulator behind a fault proxy, with random faults throughout: 503s and slow answers (simulator), connection
// resets, hangs past DIEGO_TIMEOUT_MS, non-JSON bodies and 500s (proxy), Diego down for seconds at a time, the
// database locked by another connection for seconds at a time, and the agent stopped (SIGTERM) and killed
// (SIGKILL) and restarted during the first third. At the end it checks every slot against the database and every
// request Diego received against the rows, prints the figures, and exits 1 if a slot fired twice or went
// unaccounted, or a request has no row.
//   npm run soak -- --minutes 30 [--seed 42] [--out soak.json] [--keep]
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync, type WriteStream } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { sql } from 'kysely';
import { startSimulator } from '../src/diego/simulator.ts';
import { openDatabase } from '../src/store/open.ts';
import type { Database } from '../src/store/port.ts';
import { flag, intFlag } from './lib/args.ts';
import { sleep } from './lib/proc.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const cliPath = join(root, 'dist/src/cli.js');
const argv = process.argv.slice(2);
const minutes = Number(flag(argv, 'minutes') ?? '30');
if (!(minutes > 0 && minutes <= 24 * 60)) {
  process.stderr.write(`Invalid --minutes=${JSON.stringify(flag(argv, 'minutes'))}: expected a number of minutes above 0\n`);
  process.exit(2);
}
const seed = intFlag(argv, 'seed', (Date.now() % 2_147_483_647) + 1);
const out = flag(argv, 'out');
const keep = argv.includes('--keep');

const DURATION_MS = Math.round(minutes * 60_000);
const TIMEOUT_MS = 800;
const RETRY_ATTEMPTS = 3;
/** A slot this close before an agent was stopped or killed may or may not have fired: not counted as expected. */
const EDGE_MS = 300;
/** Faults per /analyze request at the proxy, on top of the simulator's own 503s (FAIL_RATE). */
const PROXY_FAULTS = { reset: 0.03, hang: 0.03, notJson: 0.02, http500: 0.02 };
const FAIL_RATE = 0.05;

function mulberry32(s: number): () => number {
  return () => {
    s = (s + 0x6d2b79f5) | 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const random = mulberry32(seed);
const between = (lo: number, hi: number) => lo + (hi - lo) * random();

// ---------- the fault plan, drawn up front so a seed replays it ----------

interface Episode {
  at: number;
  ms: number;
}
/** Episodes from `first` on, every `gap` (random range) apart, each lasting `length` (random range), until `end`. */
function episodes(first: [number, number], gap: [number, number], length: [number, number], end: number): Episode[] {
  const list: Episode[] = [];
  for (let at = between(...first); at < end; at += between(...gap)) list.push({ at, ms: Math.round(between(...length)) });
  return list;
}
const short = DURATION_MS < 10 * 60_000;
const diegoDown = episodes([20_000, 40_000], short ? [40_000, 60_000] : [60_000, 150_000], [3_000, 8_000], DURATION_MS - 15_000);
const dbLocked = episodes([12_000, 25_000], short ? [30_000, 45_000] : [45_000, 120_000], [2_000, 6_000], DURATION_MS - 15_000);
// Restarts in the first third (the rest is one long life, whose RSS shows any leak), never during a lock: a kill
// there would lose the records queued in memory, which SIGKILL cannot save (see docs/reliability.md).
const restartKinds: ('SIGTERM' | 'SIGKILL')[] = short ? ['SIGKILL', 'SIGTERM'] : ['SIGTERM', 'SIGKILL', 'SIGKILL', 'SIGTERM'];
const restarts: { at: number; signal: 'SIGTERM' | 'SIGKILL' }[] = [];
for (const signal of restartKinds) {
  // A very short run may have no room left: then that restart is not planned.
  for (let tries = 0; tries < 1000; tries++) {
    const at = between(DURATION_MS * 0.08, DURATION_MS / 3);
    const clash = (e: Episode) => at > e.at - 3_000 && at < e.at + e.ms + 3_000;
    if (!dbLocked.some(clash) && !restarts.some((r) => Math.abs(r.at - at) < 6_000)) {
      restarts.push({ at, signal });
      break;
    }
  }
}
restarts.sort((a, b) => a.at - b.at);

// ---------- Diego: the simulator behind a proxy that injects faults and records every request ----------

interface Post {
  key: string;
  requestId: string;
  at: number;
  fault: string;
}
const posts: Post[] = [];
const faultCounts: Record<string, number> = {};
const sim = await startSimulator({ port: 0, failRate: FAIL_RATE, latencyMs: 30, random });

async function relay(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  if (req.url === '/health') return void res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
  const roll = random();
  let edge = 0;
  const fault =
    roll < (edge += PROXY_FAULTS.reset) ? 'reset' : roll < (edge += PROXY_FAULTS.hang) ? 'hang' : roll < (edge += PROXY_FAULTS.notJson) ? 'not_json' : roll < (edge += PROXY_FAULTS.http500) ? 'http_500' : 'relayed';
  posts.push({ key: String(req.headers['idempotency-key']), requestId: String(req.headers['x-request-id']), at: Date.now(), fault });
  faultCounts[fault] = (faultCounts[fault] ?? 0) + 1;
  if (fault === 'reset') return void req.socket.destroy();
  if (fault === 'hang') {
    await sleep(TIMEOUT_MS + 300);
    if (!res.destroyed) res.writeHead(200, { 'content-type': 'application/json' }).end('{"success":true}');
    return;
  }
  if (fault === 'not_json') return void res.writeHead(200, { 'content-type': 'text/html' }).end('<html>upstream error</html>');
  if (fault === 'http_500') return void res.writeHead(500, { 'content-type': 'application/json' }).end('{"success":false,"error":"boom"}');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  for (const h of ['idempotency-key', 'x-request-id', 'authorization']) if (typeof req.headers[h] === 'string') headers[h] = req.headers[h] as string;
  try {
    const answer = await fetch(`${sim.url}/analyze`, { method: 'POST', headers, body });
    const text = await answer.text();
    if (!res.destroyed) res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
  } catch {
    if (!res.destroyed) res.writeHead(502).end();
  }
}

const sockets = new Set<Socket>();
const proxy = createServer((req, res) => void relay(req, res).catch(() => res.destroy()));
proxy.on('connection', (s: Socket) => {
  sockets.add(s);
  s.on('close', () => sockets.delete(s));
});
await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
const port = (proxy.address() as AddressInfo).port;
const diegoUp = () => new Promise<void>((r) => proxy.listen(port, '127.0.0.1', r));
const diegoDownNow = () =>
  new Promise<void>((r) => {
    proxy.close(() => r());
    for (const s of sockets) s.destroy();
  });

// ---------- the agent's lives ----------

const dir = mkdtempSync(join(tmpdir(), 'pmf-soak-'));
const dbPath = join(dir, 'history.db');
interface Life {
  n: number;
  child: ChildProcess;
  log: WriteStream;
  firstSlot?: number;
  stoppedAt?: number;
  how?: 'SIGTERM' | 'SIGKILL';
  exit?: { code: number | null; signal: string | null };
  rss: { first?: number; last?: number; max: number };
  exited: Promise<void>;
}
const lives: Life[] = [];

function startLife(): Life {
  const n = lives.length + 1;
  const log = createWriteStream(join(dir, `agent-${n}.log`));
  const child = spawn(process.execPath, [cliPath, 'run'], {
    env: {
      PATH: process.env.PATH ?? '',
      NO_COLOR: '1',
      DIEGO_URL: `http://127.0.0.1:${port}`,
      MIGUEL_URL: '',
      WAIT_FOR_READY: 'false',
      RUN_ON_START: 'false',
      CRON_PATTERN: '* * * * * *',
      RETRY_ATTEMPTS: String(RETRY_ATTEMPTS),
      RETRY_DELAY_MS: '100',
      DIEGO_TIMEOUT_MS: String(TIMEOUT_MS),
      SHUTDOWN_GRACE_MS: '2000',
      STATS_INTERVAL_MS: '60000',
      DATABASE_URL: dbPath,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const life: Life = { n, child, log, rss: { max: 0 }, exited: Promise.resolve() };
  for (const stream of [child.stdout!, child.stderr!]) {
    createInterface({ input: stream }).on('line', (line) => {
      log.write(`${line}\n`);
      const next = /Next fire time: (\S+)/.exec(line);
      if (next && life.firstSlot === undefined) life.firstSlot = Date.parse(next[1]!);
    });
  }
  life.exited = new Promise((r) =>
    child.on('close', (code, signal) => {
      life.exit = { code, signal };
      log.end();
      r();
    }),
  );
  lives.push(life);
  return life;
}

function sampleRss(life: Life) {
  try {
    const kb = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${life.child.pid}/status`, 'utf8'))?.[1]);
    const mib = kb / 1024;
    if (!(mib > 0)) return;
    if (life.rss.first === undefined && Date.now() - (life.firstSlot ?? Infinity) > 5_000) life.rss.first = mib;
    life.rss.last = mib;
    life.rss.max = Math.max(life.rss.max, mib);
  } catch {
    // gone between two samples
  }
}

async function stopLife(life: Life, signal: 'SIGTERM' | 'SIGKILL') {
  life.stoppedAt = Date.now();
  life.how = signal;
  if (life.exit === undefined) process.kill(life.child.pid!, signal);
  await life.exited;
}

// ---------- run ----------

process.stdout.write(`Soak: ${minutes} min of CRON_PATTERN="* * * * * *", seed ${seed}, files in ${dir}\n`);
const t0 = Date.now();
let life = startLife();
const at = (ms: number) => sleep(Math.max(0, t0 + ms - Date.now()));
let locker: Database | undefined;
const crashes: string[] = [];

const timeline: Promise<void>[] = [];
for (const e of diegoDown)
  timeline.push(
    (async () => {
      await at(e.at);
      await diegoDownNow();
      await sleep(e.ms);
      await diegoUp();
    })(),
  );
for (const e of dbLocked)
  timeline.push(
    (async () => {
      await at(e.at);
      locker ??= await openDatabase({ kind: 'sqlite', path: dbPath });
      await sql.raw('BEGIN EXCLUSIVE').execute(locker.db);
      await sleep(e.ms);
      await sql.raw('ROLLBACK').execute(locker.db);
    })(),
  );
const lifecycle = (async () => {
  for (const r of restarts) {
    await at(r.at);
    await stopLife(life, r.signal);
    life = startLife();
  }
})();
const sampler = setInterval(() => {
  sampleRss(life);
  // A life that ended by itself crashed: note it and carry on with a new one.
  if (life.exit !== undefined && life.how === undefined) {
    crashes.push(`life ${life.n} exited by itself: ${JSON.stringify(life.exit)}`);
    life.stoppedAt = Date.now();
    life.how = 'SIGKILL';
    life = startLife();
  }
}, 1000);
const progress = setInterval(() => process.stdout.write(`  ${Math.round((Date.now() - t0) / 60_000)} min: ${posts.length} requests, life ${life.n}\n`), 5 * 60_000);

await at(DURATION_MS);
await Promise.all([lifecycle, ...timeline]);
clearInterval(sampler);
clearInterval(progress);
sampleRss(life);
await stopLife(life, 'SIGTERM');
await locker?.close();
await new Promise<void>((r) => proxy.close(() => r()));
for (const s of sockets) s.destroy();
await sim.close();

// ---------- accounting ----------

const db = await openDatabase({ kind: 'sqlite', path: dbPath }, { readonly: true });
const cycles = await db.db.selectFrom('cycles').select(['id', 'scheduled_at', 'status', 'trigger', 'idempotency_key', 'reason']).execute();
const attemptIds = new Set((await db.db.selectFrom('attempts').select('request_id').execute()).map((a) => a.request_id));
const integrity = (await sql<{ integrity_check: string }>`PRAGMA integrity_check`.execute(db.db)).rows.map((r) => r.integrity_check).join('; ');
await db.close();

const expected = new Set<number>();
for (const l of lives) {
  if (l.firstSlot === undefined || l.stoppedAt === undefined) continue;
  for (let s = l.firstSlot; s <= l.stoppedAt - EDGE_MS; s += 1000) expected.add(s);
}
const rowBySlot = new Map<number, number>();
for (const c of cycles) rowBySlot.set(c.scheduled_at, (rowBySlot.get(c.scheduled_at) ?? 0) + 1);
const unaccounted = [...expected].filter((s) => !rowBySlot.has(s));
const byKey = new Map(cycles.map((c) => [c.idempotency_key, c]));
const keysBySlot = new Map<number, Set<string>>();
const postsPerKey = new Map<string, number>();
const unrecordedFires = new Set<string>();
for (const p of posts) {
  postsPerKey.set(p.key, (postsPerKey.get(p.key) ?? 0) + 1);
  const c = byKey.get(p.key);
  if (!c) {
    unrecordedFires.add(p.key);
    continue;
  }
  const keys = keysBySlot.get(c.scheduled_at) ?? new Set<string>();
  keys.add(p.key);
  keysBySlot.set(c.scheduled_at, keys);
}
const duplicates = [...keysBySlot.values()].filter((k) => k.size > 1).length + [...rowBySlot.values()].filter((n) => n > 1).length;
const attemptsWithoutRow = posts.filter((p) => !attemptIds.has(p.requestId)).length;
const overRetried = [...postsPerKey.values()].filter((n) => n > RETRY_ATTEMPTS).length;
const byStatus: Record<string, number> = {};
for (const c of cycles) byStatus[c.status] = (byStatus[c.status] ?? 0) + 1;
const byReason: Record<string, number> = {};
for (const c of cycles) if (c.status !== 'succeeded') byReason[`${c.status}/${c.reason}`] = (byReason[`${c.status}/${c.reason}`] ?? 0) + 1;
const last = lives.at(-1)!;
const mib = (n: number | undefined) => (n === undefined ? 'n/a' : `${n.toFixed(1)} MiB`);
const sum = (es: Episode[]) => `${es.length} (${(es.reduce((a, e) => a + e.ms, 0) / 1000).toFixed(0)} s in all)`;

for (const l of lives) if (l.how === 'SIGTERM' && l.exit?.code !== 0) crashes.push(`life ${l.n} did not exit 0 after SIGTERM: ${JSON.stringify(l.exit)}`);
const report = {
  minutes,
  seed,
  lives: lives.length,
  faults: {
    simulator503Rate: FAIL_RATE,
    proxy: faultCounts,
    diegoDown: sum(diegoDown),
    databaseLocked: sum(dbLocked),
    restarts: restarts.map((r) => r.signal),
  },
  slotsExpected: expected.size,
  cyclesByStatus: byStatus,
  notSucceededByReason: byReason,
  requests: posts.length,
  duplicates,
  unaccountedSlots: unaccounted.length,
  firesWithoutRecord: unrecordedFires.size,
  attemptsWithoutRow,
  overRetried,
  runningLeft: byStatus.running ?? 0,
  integrity,
  crashes,
  rssFinalLife: { life: last.n, start: last.rss.first, end: last.rss.last, max: last.rss.max },
  rssMaxAllLives: Math.max(...lives.map((l) => l.rss.max)),
};
const lines = [
  `Soak finished: ${minutes} min, seed ${seed}, ${lives.length} agent lives (restarts: ${restarts.map((r) => r.signal).join(', ')})`,
  `Faults: simulator 503 rate ${FAIL_RATE}; proxy ${Object.entries(faultCounts).map(([k, v]) => `${k} ${v}`).join(', ')}; Diego down ${report.faults.diegoDown}; database locked ${report.faults.databaseLocked}`,
  `Slots expected: ${expected.size}`,
  `Cycles by status: ${Object.entries(byStatus).map(([k, v]) => `${k} ${v}`).join(', ')}  (not succeeded: ${Object.entries(byReason).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'})`,
  `Requests Diego received: ${posts.length}`,
  `Duplicates: ${duplicates}`,
  `Unaccounted slots: ${unaccounted.length}${unaccounted.length ? ` (first: ${new Date(unaccounted[0]!).toISOString()})` : ''}`,
  `Fires without a record: ${unrecordedFires.size}; attempts without a row: ${attemptsWithoutRow}; keys over RETRY_ATTEMPTS: ${overRetried}; left running: ${report.runningLeft}`,
  `Integrity check: ${integrity}; agent crashes: ${crashes.length}`,
  `RSS (final life #${last.n}): start ${mib(last.rss.first)}, end ${mib(last.rss.last)}, max ${mib(last.rss.max)}; max over all lives ${mib(report.rssMaxAllLives)}`,
];
process.stdout.write(`${lines.join('\n')}\n`);
if (out) writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);

const failed = report.runningLeft + duplicates + unaccounted.length + unrecordedFires.size + attemptsWithoutRow + overRetried + crashes.length + (integrity === 'ok' ? 0 : 1) > 0;
if (failed) process.stdout.write(`SOAK FAILED: agent logs and database kept in ${dir}\n`);
else if (!keep) rmSync(dir, { recursive: true, force: true });
process.exit(failed ? 1 : 0);
