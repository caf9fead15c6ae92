import { sql, type Kysely, type SelectQueryBuilder } from 'kysely';
import type { Schema } from '../../schema.ts';
import { num, type Percentiles } from './stats-model.ts';

// Rows of (g, v): the group a value belongs to (symbol, bucket, or one group for the total) and the value.
export type Series = SelectQueryBuilder<any, any, { g: string | number; v: number }>;

/**
 * Nearest-rank p50/p95/p99 and max per group, in one SQL statement: the values are first counted per distinct value
 * (latencies and lateness are whole milliseconds: a few thousand distinct values for a million rows), then a running
 * total in value order (a window function, which SQLite, Deno's SQLite and PostgreSQL all have, unlike
 * `percentile()`) gives each value the rank `cum` of its last row; the p-th percentile is the smallest value with
 * cum·100 ≥ p·n. Integer arithmetic only, so every dialect agrees; nothing is loaded into memory, and only the
 * counted values, not the rows, go through the window.
 */
export async function percentilesBy(db: Kysely<Schema>, series: Series): Promise<Map<string, Percentiles>> {
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
