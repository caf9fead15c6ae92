import type { ColumnType, Generated } from 'kysely';

export type CycleStatus = 'running' | 'succeeded' | 'failed' | 'skipped' | 'interrupted';
export type Trigger = 'schedule' | 'startup';
export type AttemptOutcome = 'ok' | 'http_error' | 'timeout' | 'network_error' | 'invalid_response' | 'rejected' | 'aborted';

/** One row per (symbol, slot). Times are epoch milliseconds, so the same queries serve SQLite and PostgreSQL. */
export interface CyclesTable {
  id: Generated<number>;
  symbol: string;
  timeframe: string;
  trigger: Trigger;
  scheduled_at: number;
  /** The next slot: no attempt starts after it, and no live agent runs a cycle much past it. */
  deadline_at: number;
  started_at: number;
  finished_at: number | null;
  status: CycleStatus;
  attempts: ColumnType<number, number | undefined, number>;
  /** Why the cycle ended as it did, as a kind (`deadline`, `overlap`, `timeout`, …); the text is in `error`. */
  reason: string | null;
  error: string | null;
  http_status: number | null;
  /** The brief of Diego's answer: signal, confidence, price, order (src/diego-response.ts `briefOf`). */
  summary: string | null;
  /** 1 when Diego's answer says an order was placed. */
  executed: ColumnType<number, number | undefined, number>;
  /** A UUID; SQLite holds it as 16 bytes (src/store/uuid-blobs.ts), reads give the string. */
  idempotency_key: string;
  /** The replica that claimed the slot: REPLICA_ID, else `host:pid` (the same as `agents.owner`). */
  owner: string;
  /**
   * While `running`: the owner renews it; once it has passed, the owner is taken for dead and the cycle may be
   * marked `interrupted` by any agent (migration 0003). Null once the cycle has ended, and on rows that never ran.
   */
  lease_until: ColumnType<number | null, number | null | undefined, number | null>;
}

/** One row per HTTP attempt; `outcome` is null while the attempt is in flight. */
export interface AttemptsTable {
  id: Generated<number>;
  cycle_id: number;
  number: number;
  /** A UUID, stored as `idempotency_key` is. */
  request_id: string;
  started_at: number;
  finished_at: number | null;
  duration_ms: number | null;
  outcome: AttemptOutcome | null;
  http_status: number | null;
  error: string | null;
  /** The start of the body of an answer that was not `ok` (an ok one lives on as its cycle's summary). */
  response_excerpt: string | null;
}

/** One row per agent process: its heartbeat tells `healthcheck` whether it is alive (migration 0002). */
export interface AgentsTable {
  id: Generated<number>;
  /** REPLICA_ID or `host:pid`, as in `cycles.owner`. */
  owner: string;
  host: string;
  pid: number;
  version: string;
  cron_pattern: string;
  /** Comma-separated, as in SYMBOLS. */
  symbols: string;
  started_at: number;
  /** Refreshed at least every 30 s while the agent runs. */
  heartbeat_at: number;
  /** Set by a clean stop; null while running, or after a crash. */
  stopped_at: number | null;
}

export interface Schema {
  cycles: CyclesTable;
  attempts: AttemptsTable;
  agents: AgentsTable;
}
