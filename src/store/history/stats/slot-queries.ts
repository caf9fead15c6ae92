import { sql, type Kysely, type RawBuilder, type SelectQueryBuilder } from 'kysely';
import type { Schema } from '../../schema.ts';
import { agentSpans, slotCounter, withinSpans, type Spans } from './missed-slots.ts';
import { percentilesBy, type Series } from './percentiles.ts';
import { num, RAN, ratio, type StatsBucket, type StatsWindow } from './stats-model.ts';

/** When agents ran (agents registered before `to`), for missed slots; undefined when none ever registered. */
export async function agentLives(db: Kysely<Schema>, to: number): Promise<Spans | undefined> {
  const rows = await db.selectFrom('agents').select(['started_at', 'heartbeat_at', 'stopped_at']).where('started_at', '<', to).execute();
  return agentSpans(rows.map((r) => ({ startedAt: num(r.started_at), heartbeatAt: num(r.heartbeat_at), stoppedAt: r.stopped_at === null ? null : num(r.stopped_at) })));
}

/** The symbols with a cycle in the window, and those the agent runs (grouping by replica still counts missed slots per symbol). */
export async function symbolsInWindow(db: Kysely<Schema>, since: number, until: number, configured: readonly string[] = []): Promise<string[]> {
  const rows = await db.selectFrom('cycles').select('symbol').distinct().where('scheduled_at', '>=', since).where('scheduled_at', '<', until).execute();
  return [...new Set([...configured, ...rows.map((r) => r.symbol)])].sort();
}

/**
 * Where each symbol's expected slots start: its oldest row's slot key (an index lookup), or just after it when that
 * row is a startup cycle. A startup row's key is not a slot the job owed: on a database shared by replicas it is the
 * newest slot at or before the start (claims.ts), which passed before any agent could fire it; on SQLite it is the
 * start itself (issue 24 item 13: two replicas on PostgreSQL showed that slot as missed).
 */
export async function firstSlotBySymbol(db: Kysely<Schema>, symbols: string[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const symbol of symbols) {
    const row = await db.selectFrom('cycles').select(['scheduled_at', 'trigger']).where('symbol', '=', symbol).orderBy('scheduled_at').limit(1).executeTakeFirst();
    if (row !== undefined) out.set(symbol, num(row.scheduled_at) + (row.trigger === 'startup' ? 1 : 0));
  }
  return out;
}

/** Distinct scheduled slots with a row in [from, to): per symbol, or per bucket (summed over symbols) when `bucket` is given. */
export async function presentSlots(db: Kysely<Schema>, from: number, to: number, bucket?: RawBuilder<number>): Promise<Map<string, number>> {
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
export async function queryBuckets(db: Kysely<Schema>, w: StatsWindow, end: number, n: number, firstSlots: Map<string, number>, missedUntil: number, spans: Spans | undefined): Promise<StatsBucket[]> {
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
  const count = w.cron ? withinSpans(slotCounter(w.cron), spans) : undefined;

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
