import type { Kysely } from 'kysely';
import type { AttemptOutcome, CycleStatus, Trigger } from '../../src/records.ts';
import type { Schema } from '../../src/store/schema.ts';

/** One attempt to insert; unset fields get plausible values. */
export interface SeedAttempt {
  startedAt?: number;
  durationMs?: number | null;
  outcome?: AttemptOutcome | null;
  httpStatus?: number | null;
  error?: string | null;
  excerpt?: string | null;
  /** When the request left; by default its start (null: never sent). */
  sentAt?: number | null;
}

/** One cycle to insert with its attempts; by default a success at its slot with one 200 ms attempt. */
export interface SeedCycle {
  scheduledAt: number;
  symbol?: string;
  timeframe?: string;
  trigger?: Trigger;
  status?: CycleStatus;
  startedAt?: number;
  finishedAt?: number | null;
  reason?: string | null;
  error?: string | null;
  httpStatus?: number | null;
  summary?: string | null;
  executed?: boolean;
  owner?: string;
  attempts?: SeedAttempt[];
  /** A schema from before migration 0014, whose attempts have no `sent_at` column: the column is left out. */
  beforeSentAt?: boolean;
}

/**
 * Inserts a cycle and its attempts straight into the tables (any history a test needs, at any time, without
 * running cycles); returns the cycle id. Attempts run back to back from the cycle's start.
 */
export async function seedCycle(db: Kysely<Schema>, c: SeedCycle): Promise<number> {
  const status = c.status ?? 'succeeded';
  const startedAt = c.startedAt ?? c.scheduledAt + 2;
  const attempts = c.attempts ?? (status === 'skipped' ? [] : [{ outcome: status === 'succeeded' ? 'ok' : 'http_error' } as SeedAttempt]);
  let at = startedAt;
  const rows = attempts.map((a, i) => {
    const start = a.startedAt ?? at;
    const duration = a.durationMs === undefined ? 200 : a.durationMs;
    const outcome = a.outcome === undefined ? 'ok' : a.outcome;
    at = start + (duration ?? 0);
    return {
      number: i + 1,
      request_id: `req-${c.scheduledAt}-${i + 1}`,
      started_at: start,
      finished_at: outcome === null ? null : start + (duration ?? 0),
      duration_ms: outcome === null ? null : duration,
      outcome,
      http_status: a.httpStatus === undefined ? (outcome === 'ok' ? 200 : outcome === 'http_error' ? 503 : null) : a.httpStatus,
      error: a.error === undefined ? (outcome === 'ok' || outcome === null ? null : `${outcome} failure`) : a.error,
      ...(c.beforeSentAt ? {} : { sent_at: a.sentAt === undefined ? start : a.sentAt }),
      response_excerpt: a.excerpt === undefined ? (outcome === 'ok' ? '{"success":true}' : null) : a.excerpt,
    };
  });
  const finishedAt = c.finishedAt === undefined ? (status === 'running' ? null : at) : c.finishedAt;
  const last = rows.at(-1);
  const { id } = await db
    .insertInto('cycles')
    .values({
      symbol: c.symbol ?? 'BTC/USDT',
      timeframe: c.timeframe ?? '1m',
      trigger: c.trigger ?? 'schedule',
      scheduled_at: c.scheduledAt,
      deadline_at: c.scheduledAt + 60_000,
      started_at: startedAt,
      finished_at: finishedAt,
      status,
      attempts: rows.length,
      reason: c.reason === undefined ? (status === 'failed' ? (last?.outcome ?? 'unknown') : null) : c.reason,
      error: c.error === undefined ? (status === 'failed' ? (last?.error ?? 'failed') : null) : c.error,
      http_status: c.httpStatus === undefined ? (last?.http_status ?? null) : c.httpStatus,
      summary: c.summary === undefined ? (status === 'succeeded' ? 'BUY 0.8 @ 97000 · placed o-1 buy 0.001' : null) : c.summary,
      executed: (c.executed ?? status === 'succeeded') ? 1 : 0,
      idempotency_key: `key-${c.symbol ?? 'BTC/USDT'}-${c.trigger ?? 'schedule'}-${c.scheduledAt}`,
      owner: c.owner ?? 'test-host:1',
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  if (rows.length > 0) await db.insertInto('attempts').values(rows.map((r) => ({ ...r, cycle_id: id }))).execute();
  return id;
}

/** Inserts an agent's heartbeat row as a running agent would have left it. */
export async function seedAgent(
  db: Kysely<Schema>,
  a: { host?: string; pid?: number; startedAt: number; heartbeatAt?: number; stoppedAt?: number | null; readyAt?: number | null; cron?: string; symbols?: string[]; version?: string },
): Promise<number> {
  const host = a.host ?? 'test-host';
  const pid = a.pid ?? 1;
  const { id } = await db
    .insertInto('agents')
    .values({
      owner: `${host}:${pid}`,
      host,
      pid,
      version: a.version ?? '1.0.0',
      cron_pattern: a.cron ?? '0 * * * * *',
      symbols: (a.symbols ?? ['BTC/USDT']).join(','),
      started_at: a.startedAt,
      heartbeat_at: a.heartbeatAt ?? a.startedAt,
      stopped_at: a.stoppedAt ?? null,
      // Ready from its start unless the test says it still waits for Diego (null).
      ready_at: a.readyAt === undefined ? a.startedAt : a.readyAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return id;
}
