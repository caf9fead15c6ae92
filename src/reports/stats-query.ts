import type { Kysely } from 'kysely';
import type { CycleStatus, Schema } from '../store/schema.ts';

export const STATUSES: readonly CycleStatus[] = ['succeeded', 'failed', 'skipped', 'interrupted', 'running'];

export interface StatsWindow {
  /** Epoch ms, inclusive; cycles are placed in the window by their scheduled time. */
  since: number;
  until?: number;
}

export interface StatsSummary {
  cycles: number;
  byStatus: Record<CycleStatus, number>;
  /** Succeeded over finished-and-run cycles (skipped and running excluded); null when none. */
  successRate: number | null;
  attempts: number;
  attemptsPerCycle: number | null;
  /** Diego latency of successful attempts, ms. */
  latency: { count: number; p50: number; p95: number; max: number } | null;
  lastSuccessAt: number | null;
}

/** Nearest-rank percentile position (0-based) in `n` sorted values (pure). */
export function percentileRank(p: number, n: number): number {
  return Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1));
}

/**
 * The numbers of the periodic summary, all computed in SQL (percentiles by ORDER BY … OFFSET, which both
 * SQLite builds and PostgreSQL support): nothing loads a table into memory.
 */
export async function queryStats(db: Kysely<Schema>, w: StatsWindow): Promise<StatsSummary> {
  const until = w.until ?? Number.MAX_SAFE_INTEGER;
  const rows = await db
    .selectFrom('cycles')
    .select((eb) => ['status', eb.fn.countAll<number>().as('n'), eb.fn.sum<number>('attempts').as('attempts')])
    .where('scheduled_at', '>=', w.since)
    .where('scheduled_at', '<', until)
    .groupBy('status')
    .execute();
  const byStatus = Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<CycleStatus, number>;
  let attempts = 0;
  for (const r of rows) {
    byStatus[r.status] = Number(r.n);
    attempts += Number(r.attempts ?? 0);
  }
  const cycles = STATUSES.reduce((sum, s) => sum + byStatus[s], 0);
  const ran = byStatus.succeeded + byStatus.failed + byStatus.interrupted;

  const okAttempts = db
    .selectFrom('attempts')
    .where('outcome', '=', 'ok')
    .where('started_at', '>=', w.since)
    .where('started_at', '<', until);
  const agg = await okAttempts.select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('duration_ms').as('max')]).executeTakeFirstOrThrow();
  const n = Number(agg.n);
  const at = async (p: number) => {
    const row = await okAttempts.select('duration_ms').orderBy('duration_ms').limit(1).offset(percentileRank(p, n)).executeTakeFirst();
    return Number(row?.duration_ms ?? 0);
  };
  const latency = n === 0 ? null : { count: n, p50: await at(50), p95: await at(95), max: Number(agg.max) };

  const last = await db.selectFrom('cycles').select((eb) => eb.fn.max('finished_at').as('at')).where('status', '=', 'succeeded').executeTakeFirst();
  return {
    cycles,
    byStatus,
    successRate: ran === 0 ? null : byStatus.succeeded / ran,
    attempts,
    attemptsPerCycle: ran === 0 ? null : attempts / ran,
    latency,
    lastSuccessAt: last?.at == null ? null : Number(last.at),
  };
}

/** One log line: `12 cycles (11 succeeded, 1 failed) · success 91.7% · 1.17 attempts/cycle · Diego p50 210 ms …`. */
export function formatSummary(label: string, s: StatsSummary): string {
  if (s.cycles === 0) return `${label}: no cycles`;
  const statuses = STATUSES.filter((k) => s.byStatus[k] > 0).map((k) => `${s.byStatus[k]} ${k}`).join(', ');
  const parts = [`${s.cycles} cycles (${statuses})`];
  if (s.successRate !== null) parts.push(`success ${(s.successRate * 100).toFixed(1)}%`);
  if (s.attemptsPerCycle !== null) parts.push(`${s.attemptsPerCycle.toFixed(2)} attempts/cycle`);
  if (s.latency) parts.push(`Diego latency p50 ${s.latency.p50} ms, p95 ${s.latency.p95} ms, max ${s.latency.max} ms`);
  parts.push(`last success ${s.lastSuccessAt === null ? 'never' : new Date(s.lastSuccessAt).toISOString()}`);
  return `${label}: ${parts.join(' · ')}`;
}
