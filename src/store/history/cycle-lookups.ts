import type { Kysely } from 'kysely';
import type { CycleStatus } from '../../records.ts';
import type { Schema } from '../schema.ts';
import { whereStatus } from './status-filter.ts';
import { num, type StatsGrouping } from './stats/stats-model.ts';

/** The column a grouping reads. */
export const GROUP_COLUMN = { symbol: 'symbol', replica: 'owner' } as const satisfies Record<StatsGrouping, string>;

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
  return failuresAfter(db, await lastCycleWithStatus(db, 'succeeded', until, symbol, by), symbol, until, by);
}

/** A symbol's (or replica's) newest success and failure before `until`, and its failure streak: three lookups by index. */
export async function lastEvents(db: Kysely<Schema>, symbol: string, until: number, by: StatsGrouping = 'symbol') {
  const [success, failure] = await Promise.all([lastCycleWithStatus(db, 'succeeded', until, symbol, by), lastCycleWithStatus(db, 'failed', until, symbol, by)]);
  return { success, failure, streak: await failuresAfter(db, success, symbol, until, by) };
}

/** The same for one job (a symbol at a timeframe: `status` shows one line per job when there are several timeframes). */
export async function lastJobEvents(db: Kysely<Schema>, symbol: string, timeframe: string, until: number) {
  const last = (status: CycleStatus) =>
    whereStatus(db.selectFrom('cycles').select(['id', 'scheduled_at', 'finished_at', 'error']), status)
      .where('symbol', '=', symbol)
      .where('timeframe', '=', timeframe)
      .where('scheduled_at', '<', until)
      .orderBy('scheduled_at', 'desc')
      .limit(1)
      .executeTakeFirst();
  const [success, failure] = await Promise.all([last('succeeded'), last('failed')]);
  const row = await whereStatus(db.selectFrom('cycles').select((eb) => eb.fn.countAll<number>().as('n')), 'failed')
    .where('symbol', '=', symbol)
    .where('timeframe', '=', timeframe)
    .where('scheduled_at', '>', success === undefined ? Number.MIN_SAFE_INTEGER : Number(success.scheduled_at))
    .where('scheduled_at', '<', until)
    .executeTakeFirstOrThrow();
  return { success, failure, streak: num(row.n) };
}

/** Failed cycles after `success` (all of them when there is none), up to `until`. */
async function failuresAfter(db: Kysely<Schema>, success: { scheduled_at: number } | undefined, symbol: string, until: number, by: StatsGrouping): Promise<number> {
  const row = await whereStatus(db.selectFrom('cycles').select((eb) => eb.fn.countAll<number>().as('n')), 'failed')
    .where(GROUP_COLUMN[by], '=', symbol)
    .where('scheduled_at', '>', success === undefined ? Number.MIN_SAFE_INTEGER : Number(success.scheduled_at))
    .where('scheduled_at', '<', until)
    .executeTakeFirstOrThrow();
  return num(row.n);
}
