// Write path: cycles+attempts persisted per second through the agent's own store (kysely over better-sqlite3, WAL),
// with synchronous=FULL (the agent's setting) and NORMAL; and what the slot claim costs, which before this issue sat
// between the slot and the request and now happens PREPARE_LEAD_MS ahead of the slot.
//   node dist/bench/write-path.js [--cycles 2000] [--runs 3] [--out file.json]
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { PREPARE_LEAD_MS } from '../src/agent/scheduler.ts';
import { openDatabase } from '../src/store/open.ts';
import { createHistoryStore } from '../src/store/history/history-store.ts';
import { flag, intFlag } from './lib/args.ts';
import { medianSpread, summarize, type Summary } from './lib/stats.ts';
import { renderTable } from './lib/table.ts';

const argv = process.argv.slice(2);
const cycles = intFlag(argv, 'cycles', 2000);
const runs = intFlag(argv, 'runs', 3);
const out = flag(argv, 'out');
const SETTINGS = ['FULL', 'NORMAL'] as const;
const EXCERPT = JSON.stringify({ success: true, analysis: { signal: 'BUY', confidence: 0.8, price: 97000, indicators: { rsi: 31.2, ema20: 97100, ema50: 97300 } }, execution: { placed: true, orderId: 'o-1', side: 'buy', quantity: 0.001 } });

interface WriteResult {
  synchronous: (typeof SETTINGS)[number];
  recordsPerSecond: number;
  cyclesPerSecond: number;
  /** Claim insert + first attempt insert: what used to sit between the slot and the request. */
  claim: Summary;
  overLead: number;
}

/** One cycle as the agent writes it: claim, attempt start, attempt end, cycle end; each awaited in turn. */
async function measure(synchronous: WriteResult['synchronous']): Promise<WriteResult> {
  const dir = mkdtempSync(join(tmpdir(), 'pmf-bench-write-'));
  const database = await openDatabase({ kind: 'sqlite', path: join(dir, 'history.db') });
  try {
    await sql.raw(`PRAGMA synchronous = ${synchronous}`).execute(database.db);
    const store = createHistoryStore(database.db, (s) => s);
    const claims: number[] = [];
    const slot0 = Date.UTC(2024, 0, 22, 10, 0, 0);
    const started = performance.now();
    for (let i = 0; i < cycles; i++) {
      const slot = slot0 + i * 1000;
      const t = performance.now();
      const id = await store.claimCycle({ symbol: 'BTC/USDT', timeframe: '1m', trigger: 'schedule', scheduledAt: slot, deadlineAt: slot + 1000, startedAt: slot, idempotencyKey: randomUUID(), owner: 'bench:1' });
      if (id === undefined) throw new Error('slot already claimed');
      const attempt = await store.startAttempt({ cycleId: id, number: 1, requestId: randomUUID(), startedAt: slot });
      claims.push(performance.now() - t);
      await store.finishAttempt(attempt, { finishedAt: slot + 3, durationMs: 3, outcome: 'ok', httpStatus: 200, excerpt: EXCERPT });
      await store.finishCycle(id, { finishedAt: slot + 3, status: 'succeeded', attempts: 1, httpStatus: 200, summary: '{ success: true, signal: BUY }', executed: true });
    }
    const seconds = (performance.now() - started) / 1000;
    return { synchronous, recordsPerSecond: (2 * cycles) / seconds, cyclesPerSecond: cycles / seconds, claim: summarize(claims), overLead: claims.filter((ms) => ms >= PREPARE_LEAD_MS).length };
  } finally {
    await database.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const results: WriteResult[] = [];
  for (let r = 0; r < runs; r++) {
    for (const s of SETTINGS) {
      process.stderr.write(`write path run ${r + 1}/${runs}, synchronous=${s}...\n`);
      results.push(await measure(s));
    }
  }
  process.stdout.write(
    `Write path: ${cycles} cycles (1 cycle row + 1 attempt row each, 4 statements, each its own transaction) per run, ${runs} run(s), median (min–max)\n\n`,
  );
  process.stdout.write(
    `${renderTable(
      ['WAL, synchronous', 'cycles+attempts/s', 'cycles/s', 'claim+attempt row p50 ms', 'p99 ms', 'max ms', `claims ≥ ${PREPARE_LEAD_MS} ms (lead)`],
      SETTINGS.map((s) => {
        const mine = results.filter((r) => r.synchronous === s);
        const col = (pick: (r: WriteResult) => number, digits = 2) => medianSpread(mine.map(pick), digits);
        return [s, col((r) => r.recordsPerSecond, 0), col((r) => r.cyclesPerSecond, 0), col((r) => r.claim.p50, 3), col((r) => r.claim.p99, 3), col((r) => r.claim.max, 3), String(mine.reduce((n, r) => n + r.overLead, 0))];
      }),
    )}\n`,
  );
  process.stdout.write(
    `\nBefore this issue the claim and the first attempt's row were written after the slot, before the request: the p50/p99 above was added to every fire. Now they are written ${PREPARE_LEAD_MS} ms ahead (PREPARE_LEAD_MS), so they add nothing unless they take longer than that.\n`,
  );
  if (out) writeFileSync(out, JSON.stringify(results, null, 2));
}

await main();
