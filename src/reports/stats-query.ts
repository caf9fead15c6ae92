import { sql, type Kysely, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import type { CronPattern } from '../cron-pattern.ts';
import type { AttemptOutcome, CycleStatus, Schema } from '../store/schema.ts';
import { whereStatus } from '../store/status-filter.ts';
import { slotCounter } from './missed-slots.ts';

/** Every cycle status, in the order reports list them. */
export const STATUSES: readonly CycleStatus[] = ['succeeded', 'failed', 'skipped', 'interrupted', 'running'];

/** Slots newer than this are not yet counted as missed: their row may be a few ms from being written. */
export const MISSED_GRACE_MS = 5_000;

/** What `queryStats` covers and what it may compare with. */
export interface StatsWindow {
  /** Epoch ms, inclusive; cycles are placed in the window by their scheduled time. */
  since: number;
  /** Epoch ms, exclusive; default: no end. */
  until?: number;
  /** The present, for missed slots (default `Date.now()`). */
  now?: number;
  /** The pattern the agent ran; missed slots are counted only when it is given. */
  cron?: CronPattern;
  /** Symbols the agent runs: they appear (and count missed slots) even with no row in the window. */
  symbols?: readonly string[];
  /** How many time buckets to cut the window into for the picture (0 or unset: none). */
  buckets?: number;
  /** Group the numbers by symbol (default) or by replica, the agent that ran each cycle (`cycles.owner`). */
  by?: StatsGrouping;
}

/** What `stats` groups by: the job's symbol, or the replica that ran the cycle (high availability). */
export type StatsGrouping = 'symbol' | 'replica';

/** Nearest-rank percentiles of one series, in ms. */
export interface Percentiles {
  count: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

/** The numbers of one symbol, or of all symbols together. */
export interface SymbolStats {
  cycles: number;
  byStatus: Record<CycleStatus, number>;
  /** Succeeded over cycles that ran to an end or were cut (succeeded, failed, interrupted); null when none. */
  successRate: number | null;
  /** Attempts of the cycles that ran (succeeded, failed, interrupted). */
  attempts: number;
  attemptsPerCycle: number | null;
  /** Share of the cycles that ran which needed more than one attempt. */
  retryRate: number | null;
  /** Diego latency of successful attempts. */
  latency: Percentiles | null;
  /** Fire lateness: a scheduled cycle's start minus its slot. */
  lateness: Percentiles | null;
  /** Failed attempts by outcome. */
  failuresByOutcome: Partial<Record<AttemptOutcome, number>>;
  /** Cycles whose answer says an order was placed. */
  executions: number;
  /** The newest success and failure before the window's end (not only inside it). */
  lastSuccess: { cycleId: number; at: number } | null;
  lastFailure: { cycleId: number; at: number; error: string | null } | null;
  /** Failed cycles since the last success (skipped and interrupted cycles neither break nor extend it). */
  failureStreak: number;
  /** Slots the pattern had in the window (from the symbol's first row on) with no scheduled cycle; null without a pattern. */
  expectedSlots: number | null;
  missedSlots: number | null;
}

/** One time bucket of the picture. */
export interface StatsBucket {
  start: number;
  end: number;
  cycles: number;
  succeeded: number;
  /** Cycles that ran: succeeded, failed, interrupted. */
  ran: number;
  successRate: number | null;
  latencyP50: number | null;
  latencyMax: number | null;
  missedSlots: number | null;
}

/** Everything `stats` shows; the agent's periodic summary prints `total`. */
export interface StatsReport {
  since: number;
  until: number | null;
  cron: string | null;
  total: SymbolStats;
  /** Per symbol; empty when grouped by replica. */
  symbols: Record<string, SymbolStats>;
  /**
   * Per replica (`cycles.owner`), present only when grouped by replica. Missed slots are the job's, not a
   * replica's (any replica may fire any slot), so they are counted in `total` only.
   */
  replicas?: Record<string, SymbolStats>;
  buckets: StatsBucket[];
}

const RAN: readonly CycleStatus[] = ['succeeded', 'failed', 'interrupted'];
const num = (v: unknown): number => Number(v ?? 0);
const ratio = (a: number, b: number): number | null => (b === 0 ? null : a / b);

// Rows of (g, v): the group a value belongs to (symbol, bucket, or one group for the total) and the value.
type Series = SelectQueryBuilder<any, any, { g: string | number; v: number }>;

/**
 * Nearest-rank p50/p95/p99 and max per group, in one SQL statement: the values are first counted per distinct value
 * (latencies and lateness are whole milliseconds: a few thousand distinct values for a million rows), then a running
 * total in value order (a window function, which SQLite, Deno's SQLite and PostgreSQL all have, unlike
 * `percentile()`) gives each value the rank `cum` of its last row; the p-th percentile is the smallest value with
 * cum·100 ≥ p·n. Integer arithmetic only, so every dialect agrees; nothing is loaded into memory, and only the
 * counted values, not the rows, go through the window.
 */
async function percentilesBy(db: Kysely<Schema>, series: Series): Promise<Map<string, Percentiles>> {
  const q = db as unknown as Kysely<any>;
  const counted = q
    .selectFrom(series.as('s'))
    .select((eb) => ['s.g as g', 's.v as v', eb.fn.countAll<number>().as('k')])
    .groupBy(['s.g', 's.v']);
  const ranked = q.selectFrom(counted.as('h')).select((eb) => [
    'h.g as g',
    'h.v as v',
    eb.fn.sum<number>('h.k').over((ob) => ob.partitionBy('h.g').orderBy('h.v')).as('cum'),
    eb.fn.sum<number>('h.k').over((ob) => ob.partitionBy('h.g')).as('n'),
  ]);
  const at = (p: number) => sql<number>`min(case when ${sql.ref('r.cum')} * 100 >= ${sql.lit(p)} * ${sql.ref('r.n')} then ${sql.ref('r.v')} end)`;
  const rows = await q
    .selectFrom(ranked.as('r'))
    .select((eb) => ['r.g as g', eb.fn.max('r.n').as('count'), eb.fn.max('r.v').as('max'), at(50).as('p50'), at(95).as('p95'), at(99).as('p99')])
    .groupBy('r.g')
    .execute();
  return new Map(rows.map((r) => [String(r.g), { count: num(r.count), p50: num(r.p50), p95: num(r.p95), p99: num(r.p99), max: num(r.max) }]));
}

function emptyStats(): SymbolStats {
  return {
    cycles: 0,
    byStatus: Object.fromEntries(STATUSES.map((s) => [s, 0])) as Record<CycleStatus, number>,
    successRate: null,
    attempts: 0,
    attemptsPerCycle: null,
    retryRate: null,
    latency: null,
    lateness: null,
    failuresByOutcome: {},
    executions: 0,
    lastSuccess: null,
    lastFailure: null,
    failureStreak: 0,
    expectedSlots: null,
    missedSlots: null,
  };
}

/** The column a grouping reads. */
const GROUP_COLUMN = { symbol: 'symbol', replica: 'owner' } as const satisfies Record<StatsGrouping, string>;

/**
 * The newest cycle of a status (and symbol, or replica with `by`) scheduled before `until`: read newest first off
 * the slot key (a success), or off the unsettled index (any other status).
 */
export async function lastCycleWithStatus(db: Kysely<Schema>, status: CycleStatus, until: number, symbol?: string, by: StatsGrouping = 'symbol') {
  let q = whereStatus(db.selectFrom('cycles').select(['id', 'scheduled_at', 'finished_at', 'error']), status).where('scheduled_at', '<', until);
  if (symbol !== undefined) q = q.where(GROUP_COLUMN[by], '=', symbol);
  return q.orderBy('scheduled_at', 'desc').limit(1).executeTakeFirst();
}

/** Failed cycles of a symbol (or replica, with `by`) after its last success, up to `until`. */
export async function failureStreak(db: Kysely<Schema>, symbol: string, until: number, by: StatsGrouping = 'symbol'): Promise<number> {
  const success = await lastCycleWithStatus(db, 'succeeded', until, symbol, by);
  const row = await whereStatus(db.selectFrom('cycles').select((eb) => eb.fn.countAll<number>().as('n')), 'failed')
    .where(GROUP_COLUMN[by], '=', symbol)
    .where('scheduled_at', '>', success === undefined ? Number.MIN_SAFE_INTEGER : Number(success.scheduled_at))
    .where('scheduled_at', '<', until)
    .executeTakeFirstOrThrow();
  return num(row.n);
}

/**
 * Every number of `stats` and of the agent's periodic summary, per symbol and in total, computed in SQL through
 * kysely (grouped counts, window-function percentiles, index lookups): no table is loaded into memory, and the
 * queries are plain SQL that PostgreSQL runs too.
 */
export async function queryStats(db: Kysely<Schema>, w: StatsWindow): Promise<StatsReport> {
  const until = w.until ?? Number.MAX_SAFE_INTEGER;
  const inWindow = <Q extends SelectQueryBuilder<any, any, any>>(q: Q, col = 'scheduled_at'): Q =>
    q.where(col, '>=', w.since).where(col, '<', until) as Q;
  // The groups below are symbols, or replicas with `by: 'replica'` (the variable names keep saying symbol).
  const by = w.by ?? 'symbol';
  const column = GROUP_COLUMN[by];

  // Counts by symbol and status.
  const counts = await inWindow(db.selectFrom('cycles'))
    .select((eb) => [
      eb.ref(column).as('symbol'),
      'status',
      eb.fn.countAll<number>().as('n'),
      eb.fn.sum<number>('attempts').as('attempts'),
      eb.fn.sum<number>(eb.case().when('attempts', '>', 1).then(eb.lit(1)).else(eb.lit(0)).end()).as('retried'),
      eb.fn.sum<number>('executed').as('executions'),
    ])
    .groupBy([column, 'status'])
    .execute();
  const names = new Set<string>([...(by === 'symbol' ? (w.symbols ?? []) : []), ...counts.map((r) => r.symbol)]);
  const bySymbol = new Map<string, SymbolStats>([...names].sort().map((s) => [s, emptyStats()]));
  const total = emptyStats();
  const retried = new Map<string, number>();
  for (const r of counts) {
    for (const [key, s] of [[r.symbol, bySymbol.get(r.symbol)!], ['', total]] as const) {
      s.byStatus[r.status] += num(r.n);
      s.cycles += num(r.n);
      s.executions += num(r.executions);
      if (RAN.includes(r.status)) {
        s.attempts += num(r.attempts);
        retried.set(key, (retried.get(key) ?? 0) + num(r.retried));
      }
    }
  }
  for (const [key, s] of [...bySymbol, ['', total] as const]) {
    const ran = RAN.reduce((sum, st) => sum + s.byStatus[st], 0);
    s.successRate = ratio(s.byStatus.succeeded, ran);
    s.attemptsPerCycle = ratio(s.attempts, ran);
    s.retryRate = ratio(retried.get(key) ?? 0, ran);
  }

  // Diego latency of successful attempts, and fire lateness, per symbol and in total.
  const okAttempts = (g: RawBuilder<unknown>) =>
    inWindow(db.selectFrom('attempts as a').innerJoin('cycles as c', 'c.id', 'a.cycle_id'), 'c.scheduled_at')
      .where('a.outcome', '=', 'ok')
      .select([g.as('g') as never, 'a.duration_ms as v']) as unknown as Series;
  const lateCycles = (g: RawBuilder<unknown>) =>
    inWindow(db.selectFrom('cycles'))
      .where('trigger', '=', 'schedule')
      .where('status', '!=', 'skipped')
      .select((eb) => [g.as('g') as never, eb('started_at', '-', eb.ref('scheduled_at')).as('v')]) as unknown as Series;
  const latency = await percentilesBy(db, okAttempts(sql.ref(`c.${column}`)));
  const lateness = await percentilesBy(db, lateCycles(sql.ref(column)));
  for (const [symbol, s] of bySymbol) {
    s.latency = latency.get(symbol) ?? null;
    s.lateness = lateness.get(symbol) ?? null;
  }
  if (bySymbol.size === 1) {
    // One symbol holds every row: its percentiles are the total's (half the sorting, on the common setup).
    [total.latency, total.lateness] = [[...bySymbol.values()][0]!.latency, [...bySymbol.values()][0]!.lateness];
  } else {
    const all = sql.lit('');
    total.latency = (await percentilesBy(db, okAttempts(all))).get('') ?? null;
    total.lateness = (await percentilesBy(db, lateCycles(all))).get('') ?? null;
  }

  // Failed attempts by outcome.
  const failures = await inWindow(db.selectFrom('attempts as a').innerJoin('cycles as c', 'c.id', 'a.cycle_id'), 'c.scheduled_at')
    .where('a.outcome', 'is not', null)
    .where('a.outcome', '!=', 'ok')
    .select((eb) => [eb.ref(`c.${column}`).as('symbol'), 'a.outcome as outcome', eb.fn.countAll<number>().as('n')])
    .groupBy([`c.${column}`, 'a.outcome'])
    .execute();
  for (const f of failures) {
    const outcome = f.outcome as AttemptOutcome;
    for (const s of [bySymbol.get(f.symbol)!, total]) s.failuresByOutcome[outcome] = (s.failuresByOutcome[outcome] ?? 0) + num(f.n);
  }

  // Last success, last failure and the failure streak: newest rows by index, per symbol.
  for (const [symbol, s] of bySymbol) {
    const [ok, failed, streak] = await Promise.all([
      lastCycleWithStatus(db, 'succeeded', until, symbol, by),
      lastCycleWithStatus(db, 'failed', until, symbol, by),
      failureStreak(db, symbol, until, by),
    ]);
    s.lastSuccess = ok === undefined ? null : { cycleId: ok.id, at: num(ok.finished_at ?? ok.scheduled_at) };
    s.lastFailure = failed === undefined ? null : { cycleId: failed.id, at: num(failed.finished_at ?? failed.scheduled_at), error: failed.error };
    s.failureStreak = streak;
    if (s.lastSuccess && (!total.lastSuccess || s.lastSuccess.at > total.lastSuccess.at)) total.lastSuccess = s.lastSuccess;
    if (s.lastFailure && (!total.lastFailure || s.lastFailure.at > total.lastFailure.at)) total.lastFailure = s.lastFailure;
    total.failureStreak = Math.max(total.failureStreak, streak);
  }

  const now = w.now ?? Date.now();
  const missedUntil = Math.min(until, now - MISSED_GRACE_MS);
  // Missed slots are the job's, so they are counted per symbol whatever the grouping.
  const jobSymbols = by === 'symbol' ? [...bySymbol.keys()] : await symbolsInWindow(db, w.since, until, w.symbols);
  const firstSlots = w.cron ? await firstSlotBySymbol(db, jobSymbols) : new Map<string, number>();
  if (w.cron) {
    const count = slotCounter(w.cron);
    const present = await presentSlots(db, w.since, missedUntil);
    total.expectedSlots = 0;
    total.missedSlots = 0;
    for (const symbol of jobSymbols) {
      const first = firstSlots.get(symbol);
      if (first === undefined) continue; // never ran: nothing to compare with
      const expected = count(Math.max(w.since, first), missedUntil);
      const missed = Math.max(0, expected - (present.get(symbol) ?? 0));
      const s = by === 'symbol' ? bySymbol.get(symbol) : undefined;
      if (s) [s.expectedSlots, s.missedSlots] = [expected, missed];
      total.expectedSlots += expected;
      total.missedSlots += missed;
    }
  }

  const buckets = w.buckets ? await queryBuckets(db, w, Math.min(until, now), w.buckets, firstSlots, missedUntil) : [];
  const groups = Object.fromEntries(bySymbol);
  const report: StatsReport = { since: w.since, until: w.until ?? null, cron: w.cron?.text ?? null, total, symbols: by === 'symbol' ? groups : {}, buckets };
  return by === 'symbol' ? report : { ...report, replicas: groups };
}

/** The symbols with a cycle in the window, and those the agent runs (grouping by replica still counts missed slots per symbol). */
async function symbolsInWindow(db: Kysely<Schema>, since: number, until: number, configured: readonly string[] = []): Promise<string[]> {
  const rows = await db.selectFrom('cycles').select('symbol').distinct().where('scheduled_at', '>=', since).where('scheduled_at', '<', until).execute();
  return [...new Set([...configured, ...rows.map((r) => r.symbol)])].sort();
}

/** The first slot of each symbol ever recorded: missed slots are counted from there on (the slot key, oldest first). */
async function firstSlotBySymbol(db: Kysely<Schema>, symbols: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const symbol of symbols) {
    const row = await db.selectFrom('cycles').select('scheduled_at').where('symbol', '=', symbol).orderBy('scheduled_at').limit(1).executeTakeFirst();
    if (row !== undefined) out.set(symbol, num(row.scheduled_at));
  }
  return out;
}

/** Distinct scheduled slots with a row in [from, to): per symbol, or per bucket (summed over symbols) when `bucket` is given. */
async function presentSlots(db: Kysely<Schema>, from: number, to: number, bucket?: RawBuilder<number>): Promise<Map<string, number>> {
  const base = db.selectFrom('cycles').where('trigger', '=', 'schedule').where('scheduled_at', '>=', from).where('scheduled_at', '<', to);
  const out = new Map<string, number>();
  if (bucket === undefined) {
    const rows = await base.select((eb) => ['symbol', eb.fn.count<number>('scheduled_at').distinct().as('n')]).groupBy('symbol').execute();
    for (const r of rows) out.set(r.symbol, num(r.n));
    return out;
  }
  const rows = await base.select((eb) => [bucket.as('b'), eb.fn.count<number>('scheduled_at').distinct().as('n')]).groupBy(['symbol', 'b']).execute();
  for (const r of rows) out.set(String(r.b), (out.get(String(r.b)) ?? 0) + num(r.n));
  return out;
}

/**
 * The window cut into `n` equal buckets: success rate, latency p50/max and missed slots per bucket. The bucket of a
 * row is (scheduled_at − since) / width with integer literals, an integer division in SQLite and PostgreSQL alike.
 */
async function queryBuckets(db: Kysely<Schema>, w: StatsWindow, end: number, n: number, firstSlots: Map<string, number>, missedUntil: number): Promise<StatsBucket[]> {
  const since = Math.trunc(w.since);
  const width = Math.max(1000, Math.ceil((end - since) / n));
  const bucketOf = (col: string) => sql<number>`(${sql.ref(col)} - ${sql.lit(since)}) / ${sql.lit(width)}`;
  const inWindow = <Q extends SelectQueryBuilder<any, any, any>>(q: Q, col = 'scheduled_at'): Q => q.where(col, '>=', since).where(col, '<', end) as Q;

  const rows = await inWindow(db.selectFrom('cycles'))
    .select((eb) => [
      bucketOf('scheduled_at').as('b'),
      eb.fn.countAll<number>().as('n'),
      eb.fn.sum<number>(eb.case().when('status', '=', 'succeeded').then(eb.lit(1)).else(eb.lit(0)).end()).as('ok'),
      eb.fn.sum<number>(eb.case().when('status', 'in', RAN).then(eb.lit(1)).else(eb.lit(0)).end()).as('ran'),
    ])
    .groupBy('b')
    .execute();
  const latency = await percentilesBy(
    db,
    inWindow(db.selectFrom('attempts as a').innerJoin('cycles as c', 'c.id', 'a.cycle_id'), 'c.scheduled_at')
      .where('a.outcome', '=', 'ok')
      .select([bucketOf('c.scheduled_at').as('g'), 'a.duration_ms as v']) as unknown as Series,
  );
  const present = w.cron ? await presentSlots(db, since, Math.min(end, missedUntil), bucketOf('scheduled_at')) : undefined;
  const count = w.cron ? slotCounter(w.cron) : undefined;

  const byIndex = new Map(rows.map((r) => [num(r.b), r]));
  const out: StatsBucket[] = [];
  for (let i = 0; i < n && since + i * width < end; i++) {
    const start = since + i * width;
    const stop = Math.min(start + width, end);
    const r = byIndex.get(i);
    const lat = latency.get(String(i));
    let missed: number | null = null;
    if (count && present) {
      let expected = 0;
      for (const first of firstSlots.values()) expected += count(Math.max(start, first), Math.min(stop, missedUntil));
      missed = Math.max(0, expected - (present.get(String(i)) ?? 0));
    }
    out.push({
      start,
      end: stop,
      cycles: num(r?.n),
      succeeded: num(r?.ok),
      ran: num(r?.ran),
      successRate: ratio(num(r?.ok), num(r?.ran)),
      latencyP50: lat?.p50 ?? null,
      latencyMax: lat?.max ?? null,
      missedSlots: missed,
    });
  }
  return out;
}

/** One log line: `12 cycles (11 succeeded, 1 failed) · success 91.7% · 1.17 attempts/cycle · Diego p50 210 ms …`. */
export function formatSummary(label: string, report: StatsReport): string {
  const s = report.total;
  if (s.cycles === 0 && !s.missedSlots) return `${label}: no cycles`;
  const statuses = STATUSES.filter((k) => s.byStatus[k] > 0).map((k) => `${s.byStatus[k]} ${k}`).join(', ');
  const parts = [`${s.cycles} cycles${statuses ? ` (${statuses})` : ''}`];
  if (s.successRate !== null) parts.push(`success ${(s.successRate * 100).toFixed(1)}%`);
  if (s.attemptsPerCycle !== null) parts.push(`${s.attemptsPerCycle.toFixed(2)} attempts/cycle`);
  if (s.latency) parts.push(`Diego latency p50 ${s.latency.p50} ms, p95 ${s.latency.p95} ms, max ${s.latency.max} ms`);
  if (s.missedSlots) parts.push(`${s.missedSlots} missed slot(s)`);
  if (s.failureStreak > 0) parts.push(`${s.failureStreak} failed in a row`);
  parts.push(`last success ${s.lastSuccess === null ? 'never' : new Date(s.lastSuccess.at).toISOString()}`);
  return `${label}: ${parts.join(' · ')}`;
}
