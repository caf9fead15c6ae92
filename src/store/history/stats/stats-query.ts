import { sql, type Kysely, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import type { AttemptOutcome, SkipReason } from '../../../records.ts';

/** The skip reason `stats` counts apart from missed slots (a deliberate skip). */
const PAUSED: SkipReason = 'paused';
import type { Schema } from '../../schema.ts';
import { GROUP_COLUMN, lastEvents } from '../cycle-lookups.ts';
import { slotCounter, uncovered, withinSpans } from './missed-slots.ts';
import { percentilesBy, type Series } from './percentiles.ts';
import { agentLives, firstSlotBySymbol, presentSlots, queryBuckets, symbolsInWindow } from './slot-queries.ts';
import { emptyStats, MISSED_GRACE_MS, num, RAN, ratio, type StatsGrouping, type StatsReport, type StatsWindow, type SymbolStats } from './stats-model.ts';

/**
 * Every number of `stats` and of the agent's periodic summary, per symbol and in total, computed in SQL through
 * kysely (grouped counts, window-function percentiles, index lookups): no table is loaded into memory, and the
 * queries are plain SQL that PostgreSQL runs too.
 */
export async function queryStats(db: Kysely<Schema>, w: StatsWindow): Promise<StatsReport> {
  const until = w.until ?? Number.MAX_SAFE_INTEGER;
  // The groups are symbols, or replicas with `by: 'replica'` (the variable names keep saying symbol).
  const by = w.by ?? 'symbol';
  const q: StatsQuery = {
    db,
    until,
    by,
    column: GROUP_COLUMN[by],
    inWindow: <Q extends SelectQueryBuilder<any, any, any>>(query: Q, col = 'scheduled_at'): Q => query.where(col, '>=', w.since).where(col, '<', until) as Q,
  };
  const { bySymbol, total } = await countCycles(q, w.symbols);
  await addPercentiles(q, bySymbol, total);
  await addFailures(q, bySymbol, total);
  await addLastEvents(q, bySymbol, total);
  const now = w.now;
  const missedUntil = Math.min(until, now - MISSED_GRACE_MS);
  const missed = await addMissedSlots(q, w, bySymbol, total, { expected: Math.min(until, now), missed: missedUntil });
  const buckets = w.buckets ? await queryBuckets(db, w, Math.min(until, now), w.buckets, missed.firstSlots, missedUntil, missed.spans) : [];
  const groups = Object.fromEntries(bySymbol);
  const clockChecks = await lastClockChecks(db, w.since, Math.min(until, now));
  const report: StatsReport = { since: w.since, until: w.until ?? null, cron: w.cron?.text ?? null, total, symbols: by === 'symbol' ? groups : {}, buckets, downtimeMs: missed.downtimeMs, clockChecks };
  return by === 'symbol' ? report : { ...report, replicas: groups };
}

/** What every step of queryStats shares: the database, the window and the grouping. */
interface StatsQuery {
  db: Kysely<Schema>;
  until: number;
  by: StatsGrouping;
  column: (typeof GROUP_COLUMN)[StatsGrouping];
  inWindow<Q extends SelectQueryBuilder<any, any, any>>(q: Q, col?: string): Q;
}

/** Counts by group and status, and the rates they give; `symbols` are groups to show even without a row. */
async function countCycles(q: StatsQuery, symbols: readonly string[] | undefined): Promise<{ bySymbol: Map<string, SymbolStats>; total: SymbolStats }> {
  const counts = await q
    .inWindow(q.db.selectFrom('cycles'))
    .select((eb) => [
      eb.ref(q.column).as('symbol'),
      'status',
      eb.fn.countAll<number>().as('n'),
      eb.fn.sum<number>('attempts').as('attempts'),
      eb.fn.sum<number>(eb.case().when('attempts', '>', 1).then(eb.lit(1)).else(eb.lit(0)).end()).as('retried'),
      eb.fn.sum<number>('executed').as('executions'),
      // Slots skipped while paused: a run-now request skipped by a pause is no slot (it is counted as a manual cycle).
      eb.fn.sum<number>(eb.case().when(eb.and([eb('reason', '=', PAUSED), eb('trigger', '!=', 'manual')])).then(eb.lit(1)).else(eb.lit(0)).end()).as('paused'),
      eb.fn.sum<number>(eb.case().when('trigger', '=', 'manual').then(eb.lit(1)).else(eb.lit(0)).end()).as('manual'),
    ])
    .groupBy([q.column, 'status'])
    .execute();
  const names = new Set<string>([...(q.by === 'symbol' ? (symbols ?? []) : []), ...counts.map((r) => r.symbol)]);
  const bySymbol = new Map<string, SymbolStats>([...names].sort().map((s) => [s, emptyStats()]));
  const total = emptyStats();
  const retried = new Map<string, number>();
  for (const r of counts) {
    for (const [key, s] of [[r.symbol, bySymbol.get(r.symbol)!], ['', total]] as const) {
      s.byStatus[r.status] += num(r.n);
      s.cycles += num(r.n);
      s.executions += num(r.executions);
      s.pausedSlots += r.status === 'skipped' ? num(r.paused) : 0;
      s.manualCycles += num(r.manual);
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
  return { bySymbol, total };
}

/** Diego latency of successful attempts, and fire lateness, per group and in total. */
async function addPercentiles(q: StatsQuery, bySymbol: Map<string, SymbolStats>, total: SymbolStats): Promise<void> {
  const okAttempts = (g: RawBuilder<unknown>) =>
    q
      .inWindow(q.db.selectFrom('attempts as a').innerJoin('cycles as c', 'c.id', 'a.cycle_id'), 'c.scheduled_at')
      .where('a.outcome', '=', 'ok')
      .select([g.as('g') as never, 'a.duration_ms as v']) as unknown as Series;
  // Lateness is measured: when the first request left (attempts.sent_at, migration 0014) minus its slot. A cycle's
  // started_at is its slot, the plan, so it would say 0 ms for every cycle (issue 24 item 12).
  const lateCycles = (g: RawBuilder<unknown>) =>
    q
      .inWindow(q.db.selectFrom('attempts as a').innerJoin('cycles as c', 'c.id', 'a.cycle_id'), 'c.scheduled_at')
      .where('c.trigger', '=', 'schedule')
      .where('a.number', '=', 1)
      .where('a.sent_at', 'is not', null)
      .select((eb) => [g.as('g') as never, eb('a.sent_at', '-', eb.ref('c.scheduled_at')).as('v')]) as unknown as Series;
  const latency = await percentilesBy(q.db, okAttempts(sql.ref(`c.${q.column}`)));
  const lateness = await percentilesBy(q.db, lateCycles(sql.ref(`c.${q.column}`)));
  for (const [symbol, s] of bySymbol) {
    s.latency = latency.get(symbol) ?? null;
    s.lateness = lateness.get(symbol) ?? null;
  }
  if (bySymbol.size === 1) {
    // One group holds every row: its percentiles are the total's (half the sorting, on the common setup).
    [total.latency, total.lateness] = [[...bySymbol.values()][0]!.latency, [...bySymbol.values()][0]!.lateness];
  } else {
    const all = sql.lit('');
    total.latency = (await percentilesBy(q.db, okAttempts(all))).get('') ?? null;
    total.lateness = (await percentilesBy(q.db, lateCycles(all))).get('') ?? null;
  }
}

/** Failed attempts by outcome. */
async function addFailures(q: StatsQuery, bySymbol: Map<string, SymbolStats>, total: SymbolStats): Promise<void> {
  const failures = await q
    .inWindow(q.db.selectFrom('attempts as a').innerJoin('cycles as c', 'c.id', 'a.cycle_id'), 'c.scheduled_at')
    .where('a.outcome', 'is not', null)
    .where('a.outcome', '!=', 'ok')
    .select((eb) => [eb.ref(`c.${q.column}`).as('symbol'), 'a.outcome as outcome', eb.fn.countAll<number>().as('n')])
    .groupBy([`c.${q.column}`, 'a.outcome'])
    .execute();
  for (const f of failures) {
    const outcome = f.outcome as AttemptOutcome;
    for (const s of [bySymbol.get(f.symbol)!, total]) s.failuresByOutcome[outcome] = (s.failuresByOutcome[outcome] ?? 0) + num(f.n);
  }
}

/** Last success, last failure and the failure streak: newest rows by index, per group. */
async function addLastEvents(q: StatsQuery, bySymbol: Map<string, SymbolStats>, total: SymbolStats): Promise<void> {
  for (const [symbol, s] of bySymbol) {
    const { success: ok, failure: failed, streak } = await lastEvents(q.db, symbol, q.until, q.by);
    s.lastSuccess = ok === undefined ? null : { cycleId: ok.id, at: num(ok.finished_at ?? ok.scheduled_at) };
    s.lastFailure = failed === undefined ? null : { cycleId: failed.id, at: num(failed.finished_at ?? failed.scheduled_at), error: failed.error };
    s.failureStreak = streak;
    if (s.lastSuccess && (!total.lastSuccess || s.lastSuccess.at > total.lastSuccess.at)) total.lastSuccess = s.lastSuccess;
    if (s.lastFailure && (!total.lastFailure || s.lastFailure.at > total.lastFailure.at)) total.lastFailure = s.lastFailure;
    total.failureStreak = Math.max(total.failureStreak, streak);
  }
}

/**
 * Expected and missed slots (with a pattern), counted inside the agents' lifetimes: the hours no agent ran are
 * downtime, said apart. Missed slots are the job's, so they are counted per symbol whatever the grouping. Every slot
 * of the window up to now is expected; only those older than MISSED_GRACE_MS can be missed (a slot of a second ago
 * may not have its row yet), so a window ending a second ago expects all its slots (issue 24 item 13).
 */
async function addMissedSlots(q: StatsQuery, w: StatsWindow, bySymbol: Map<string, SymbolStats>, total: SymbolStats, ends: { expected: number; missed: number }) {
  const missedUntil = ends.missed;
  const jobSymbols = q.by === 'symbol' ? [...bySymbol.keys()] : await symbolsInWindow(q.db, w.since, q.until, w.symbols);
  const firstSlots = w.cron ? await firstSlotBySymbol(q.db, jobSymbols) : new Map<string, number>();
  const spans = w.cron ? await agentLives(q.db, ends.expected) : undefined;
  let downtimeMs: number | null = null;
  if (w.cron) {
    const count = withinSpans(slotCounter(w.cron), spans);
    const counted = Math.max(w.since, Math.min(...firstSlots.values()));
    if (spans !== undefined) downtimeMs = firstSlots.size === 0 ? 0 : uncovered(spans, counted, Math.max(counted, missedUntil));
    const present = await presentSlots(q.db, w.since, missedUntil);
    total.expectedSlots = 0;
    total.missedSlots = 0;
    for (const symbol of jobSymbols) {
      const first = firstSlots.get(symbol);
      if (first === undefined) continue; // never ran: nothing to compare with
      const expected = count(Math.max(w.since, first), ends.expected);
      const missed = Math.max(0, count(Math.max(w.since, first), missedUntil) - (present.get(symbol) ?? 0));
      const s = q.by === 'symbol' ? bySymbol.get(symbol) : undefined;
      if (s) [s.expectedSlots, s.missedSlots] = [expected, missed];
      total.expectedSlots += expected;
      total.missedSlots += missed;
    }
  }
  return { firstSlots, spans, downtimeMs };
}

/** The last clock check of each agent that checked its clock within the window (issue #13), newest agent first. */
async function lastClockChecks(db: Kysely<Schema>, since: number, until: number): Promise<StatsReport['clockChecks']> {
  const rows = await db
    .selectFrom('agents')
    .select(['owner', 'clock_offset_ms', 'clock_rtt_ms', 'clock_checked_at'])
    .where('clock_checked_at', '>=', since)
    .where('clock_checked_at', '<', until)
    .orderBy('started_at', 'desc')
    .limit(10)
    .execute();
  return rows.map((r) => ({ owner: r.owner, offsetMs: num(r.clock_offset_ms), rttMs: num(r.clock_rtt_ms), at: num(r.clock_checked_at) }));
}
