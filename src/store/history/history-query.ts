import { sql, type Kysely, type Selectable } from 'kysely';
import { traceIdOf, type AttemptOutcome, type CycleStatus, type Trigger } from '../../records.ts';
import type { AttemptsTable, CyclesTable, Schema } from '../schema.ts';
import { whereStatus } from './status-filter.ts';

/** Which cycles `history` lists; times are epoch ms on the scheduled time, `since` inclusive, `until` exclusive. */
export interface HistoryFilter {
  limit: number;
  status?: CycleStatus;
  trigger?: Trigger;
  symbol?: string;
  /** A job's timeframe (with `symbol`, one job's history). */
  timeframe?: string;
  since?: number;
  until?: number;
  /** A cycle's Idempotency-Key (canonical lowercase UUID). */
  key?: string;
}

/** One cycle as the reports show it (times epoch ms). */
export interface CycleView {
  id: number;
  symbol: string;
  timeframe: string;
  trigger: Trigger;
  scheduledAt: number;
  startedAt: number;
  finishedAt: number | null;
  status: CycleStatus;
  /** The Idempotency-Key every attempt sent (what Diego logs). */
  idempotencyKey?: string;
  attempts: number;
  /** finished − started; null while running. */
  durationMs: number | null;
  httpStatus: number | null;
  reason: string | null;
  error: string | null;
  summary: string | null;
  executed: boolean;
  owner: string;
  /** Why the cycle was sent with `triggerExecution: false` (a live `pause --execution`); null otherwise. */
  executionOff: string | null;
  /** The W3C trace id its requests carried (`traceparent`): its Idempotency-Key as 32 hex digits (traceIdOf). */
  traceId?: string;
}

/** One HTTP attempt as `history --cycle` shows it. */
export interface AttemptView {
  number: number;
  requestId: string;
  startedAt: number;
  finishedAt: number | null;
  durationMs: number | null;
  outcome: AttemptOutcome | null;
  httpStatus: number | null;
  error: string | null;
  responseExcerpt: string | null;
}

/** Maps a `cycles` row to its view. */
export function cycleView(r: Selectable<CyclesTable>): CycleView {
  const finishedAt = r.finished_at === null ? null : Number(r.finished_at);
  return {
    id: Number(r.id),
    symbol: r.symbol,
    timeframe: r.timeframe,
    trigger: r.trigger,
    scheduledAt: Number(r.scheduled_at),
    startedAt: Number(r.started_at),
    finishedAt,
    status: r.status,
    attempts: Number(r.attempts),
    idempotencyKey: String(r.idempotency_key),
    durationMs: finishedAt === null ? null : finishedAt - Number(r.started_at),
    httpStatus: r.http_status,
    reason: r.reason,
    error: r.error,
    summary: r.summary,
    executed: Number(r.executed) === 1,
    owner: r.owner,
    executionOff: r.execution_off,
    traceId: traceIdOf(r.idempotency_key),
  };
}

function attemptView(r: Selectable<AttemptsTable>): AttemptView {
  return {
    number: r.number,
    requestId: r.request_id,
    startedAt: Number(r.started_at),
    finishedAt: r.finished_at === null ? null : Number(r.finished_at),
    durationMs: r.duration_ms,
    outcome: r.outcome,
    httpStatus: r.http_status,
    error: r.error,
    responseExcerpt: r.response_excerpt,
  };
}

/** The newest cycles matching the filter, newest slot first (served by the slot key, which leads with the time, or the unsettled index). */
export async function queryHistory(db: Kysely<Schema>, f: HistoryFilter): Promise<CycleView[]> {
  let q = db.selectFrom('cycles').selectAll();
  if (f.status !== undefined) q = whereStatus(q, f.status);
  if (f.symbol !== undefined) q = q.where('symbol', '=', f.symbol);
  if (f.timeframe !== undefined) q = q.where('timeframe', '=', f.timeframe);
  if (f.trigger !== undefined) q = q.where('trigger', '=', f.trigger);
  if (f.since !== undefined) q = q.where('scheduled_at', '>=', f.since);
  if (f.until !== undefined) q = q.where('scheduled_at', '<', f.until);
  // Through the view (migration 0006), which shows the key as text on both backends (SQLite stores 16 bytes). No
  // index serves it: an operator's look-up, a scan of the cycles.
  if (f.key !== undefined) q = q.where(sql<boolean>`id in (select id from cycles_v where idempotency_key = ${f.key})`);
  const rows = await q.orderBy('scheduled_at', 'desc').orderBy('id', 'desc').limit(f.limit).execute();
  return withAttemptsSoFar(db, rows.map(cycleView));
}

/**
 * A cycle's `attempts` column is written when it ends: one still running showed `att 0` while in its first attempt
 * (issue 24 item 18). Those get the attempts started so far, counted by the attempts' cycle index.
 */
async function withAttemptsSoFar(db: Kysely<Schema>, views: CycleView[]): Promise<CycleView[]> {
  const running = views.filter((v) => v.status === 'running').map((v) => v.id);
  if (running.length === 0) return views;
  const counts = await db.selectFrom('attempts').select(['cycle_id', (eb) => eb.fn.countAll<number>().as('n')]).where('cycle_id', 'in', running).groupBy('cycle_id').execute();
  const started = new Map(counts.map((r) => [Number(r.cycle_id), Number(r.n)]));
  return views.map((v) => (v.status === 'running' ? { ...v, attempts: Math.max(v.attempts, started.get(v.id) ?? 0) } : v));
}

/**
 * Whether a cycle passes the filter's status, symbol, trigger and time bounds, as queryHistory's WHERE does: what
 * `history --follow` prints of the cycles it sees end. (The key has no field here: --follow refuses it.)
 */
export function matchesFilter(v: CycleView, f: Omit<HistoryFilter, 'limit' | 'key'>): boolean {
  return (
    (f.status === undefined || v.status === f.status) &&
    (f.symbol === undefined || v.symbol === f.symbol) &&
    (f.timeframe === undefined || v.timeframe === f.timeframe) &&
    (f.trigger === undefined || v.trigger === f.trigger) &&
    (f.since === undefined || v.scheduledAt >= f.since) &&
    (f.until === undefined || v.scheduledAt < f.until)
  );
}

/**
 * What `history --follow` polls, both by the primary key: the cycles inserted after `afterId`, and those of `ids`
 * (seen running before, to catch their end). At most `limit` new ones, oldest first.
 */
export async function queryCyclesAfter(db: Kysely<Schema>, afterId: number, ids: readonly number[], limit = 1000): Promise<CycleView[]> {
  const newer = await db.selectFrom('cycles').selectAll().where('id', '>', afterId).orderBy('id').limit(limit).execute();
  const again = ids.length > 0 ? await db.selectFrom('cycles').selectAll().where('id', 'in', [...ids]).execute() : [];
  return [...again, ...newer].map(cycleView);
}

/** The newest cycle id (0 when none), and the cycles still running: where `history --follow` starts watching. */
export async function followStart(db: Kysely<Schema>): Promise<{ maxId: number; running: number[] }> {
  const newest = await db.selectFrom('cycles').select('id').orderBy('id', 'desc').limit(1).executeTakeFirst();
  const running = await whereStatus(db.selectFrom('cycles').select('id'), 'running').execute();
  return { maxId: Number(newest?.id ?? 0), running: running.map((r) => Number(r.id)) };
}

/** One cycle and all its attempts in order, or undefined when there is no such cycle. */
export async function queryCycle(db: Kysely<Schema>, id: number): Promise<{ cycle: CycleView; attempts: AttemptView[] } | undefined> {
  const row = await db.selectFrom('cycles').selectAll().where('id', '=', id).executeTakeFirst();
  if (row === undefined) return undefined;
  const attempts = await db.selectFrom('attempts').selectAll().where('cycle_id', '=', id).orderBy('number').execute();
  const cycle = cycleView(row);
  return { cycle: cycle.status === 'running' ? { ...cycle, attempts: Math.max(cycle.attempts, attempts.length) } : cycle, attempts: attempts.map(attemptView) };
}

/** Whether the database holds any cycle at all ("no cycles yet" versus "none match"). */
export async function hasCycles(db: Kysely<Schema>): Promise<boolean> {
  return (await db.selectFrom('cycles').select('id').limit(1).executeTakeFirst()) !== undefined;
}
