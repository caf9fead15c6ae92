import type { Kysely, Selectable } from 'kysely';
import type { AttemptOutcome, AttemptsTable, CycleStatus, CyclesTable, Schema, Trigger } from '../store/schema.ts';
import { whereStatus } from '../store/status-filter.ts';

/** Which cycles `history` lists; times are epoch ms on the scheduled time, `since` inclusive, `until` exclusive. */
export interface HistoryFilter {
  limit: number;
  status?: CycleStatus;
  symbol?: string;
  since?: number;
  until?: number;
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
  attempts: number;
  /** finished − started; null while running. */
  durationMs: number | null;
  httpStatus: number | null;
  reason: string | null;
  error: string | null;
  summary: string | null;
  executed: boolean;
  owner: string;
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
    durationMs: finishedAt === null ? null : finishedAt - Number(r.started_at),
    httpStatus: r.http_status,
    reason: r.reason,
    error: r.error,
    summary: r.summary,
    executed: Number(r.executed) === 1,
    owner: r.owner,
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
  if (f.since !== undefined) q = q.where('scheduled_at', '>=', f.since);
  if (f.until !== undefined) q = q.where('scheduled_at', '<', f.until);
  const rows = await q.orderBy('scheduled_at', 'desc').orderBy('id', 'desc').limit(f.limit).execute();
  return rows.map(cycleView);
}

/** One cycle and all its attempts in order, or undefined when there is no such cycle. */
export async function queryCycle(db: Kysely<Schema>, id: number): Promise<{ cycle: CycleView; attempts: AttemptView[] } | undefined> {
  const row = await db.selectFrom('cycles').selectAll().where('id', '=', id).executeTakeFirst();
  if (row === undefined) return undefined;
  const attempts = await db.selectFrom('attempts').selectAll().where('cycle_id', '=', id).orderBy('number').execute();
  return { cycle: cycleView(row), attempts: attempts.map(attemptView) };
}

/** Whether the database holds any cycle at all ("no cycles yet" versus "none match"). */
export async function hasCycles(db: Kysely<Schema>): Promise<boolean> {
  return (await db.selectFrom('cycles').select('id').limit(1).executeTakeFirst()) !== undefined;
}
