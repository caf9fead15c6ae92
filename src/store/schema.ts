import type { ColumnType, Generated } from 'kysely';
import type { AttemptOutcome, CycleStatus, Trigger } from '../records.ts';

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
  /** The brief of Diego's answer: signal, confidence, price, order (diego/response.ts `briefOf`). */
  summary: string | null;
  /** 1 when Diego's answer says an order was placed. */
  executed: ColumnType<number, number | undefined, number>;
  /** A UUID; SQLite holds it as 16 bytes (sqlite/uuid-blobs.ts), reads give the string. */
  idempotency_key: string;
  /** The replica that claimed the slot: REPLICA_ID, else `host:pid` (the same as `agents.owner`). */
  owner: string;
  /**
   * While `running`: the owner renews it; once it has passed, the owner is taken for dead and the cycle may be
   * marked `interrupted` by any agent (migration 0003). Null once the cycle has ended, and on rows that never ran.
   */
  lease_until: ColumnType<number | null, number | null | undefined, number | null>;
  /** Why the cycle was sent with `triggerExecution: false` by a live pause (`pause --execution`); null otherwise (migration 0008). */
  execution_off: ColumnType<string | null, string | null | undefined, string | null>;
  /** 1 when Diego's answer said the order it tried failed (migration 0011): counts toward EXECUTION_OFF_AFTER_FAILURES. */
  execution_failed: ColumnType<number, number | undefined, number>;
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
  /** When the request left: its X-Sent-At stamp, read just before the write (held-request.ts); null if never sent, or before migration 0014. */
  sent_at: ColumnType<number | null, number | null | undefined, number | null>;
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
  /** Refreshed every 10 s while the agent runs (agent/upkeep/heartbeat.ts). */
  heartbeat_at: number;
  /** Set by a clean stop; null while running, or after a crash. */
  stopped_at: number | null;
  /** When its readiness wait ended (or at start without one); null while it waits for Diego (migration 0005_agent_ready). */
  ready_at: number | null;
  /** The last clock check (NTP_SERVER): offset and round trip in ms, and when (migration 0007); null: never. */
  clock_offset_ms: ColumnType<number | null, number | null | undefined, number | null>;
  clock_rtt_ms: ColumnType<number | null, number | null | undefined, number | null>;
  clock_checked_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** Why it does not fire though alive: `disabled`, `clock: …`; null: it fires once ready (migration 0013_a). */
  not_firing: ColumnType<string | null, string | null | undefined, string | null>;
  /** The wall clock went back: nothing fires before this slot (migration 0012_a_clock_hold); null: firing as usual. */
  held_until: ColumnType<number | null, number | null | undefined, number | null>;
  /** How far behind the last slot fired the clock went, in ms, with `held_until`. */
  held_back_ms: ColumnType<number | null, number | null | undefined, number | null>;
  /** The exchange's clock at its last reading (EXCHANGE_TIME_URL): ms ahead of ours, round trip, when (migration 0016). */
  exchange_offset_ms: ColumnType<number | null, number | null | undefined, number | null>;
  exchange_rtt_ms: ColumnType<number | null, number | null | undefined, number | null>;
  exchange_checked_at: ColumnType<number | null, number | null | undefined, number | null>;
  /** The clock its slots fire on: `local`, `exchange`, `fallback` (FIRE_CLOCK=exchange, unreadable); null: before 0016. */
  fire_clock: ColumnType<string | null, string | null | undefined, string | null>;
}

/** The notification outbox, one row per notification and channel (migration 0007). */
export interface NotificationsTable {
  id: Generated<number>;
  /** `failing`, `recovered`, `missed`, `clock_skew`, `started`, `stopping`, `test`, … */
  event: string;
  severity: 'info' | 'warning' | 'critical';
  symbol: string | null;
  /** `webhook:<digest>` or `healthchecks:<digest>`: a configured channel, named without its secret URL. */
  channel: string;
  /** Unique with the channel when set: the same notification is never inserted twice (one `failing` per outage). */
  dedupe_key: string | null;
  /** The JSON body sent (schema `pmf-scheduler.notification/v1`). */
  payload: string;
  created_at: number;
  state: 'pending' | 'sent' | 'gave_up';
  attempts: ColumnType<number, number | undefined, number>;
  /** Not delivered before this time (the backoff after a failed try, or a rate limit). */
  next_at: number;
  last_error: string | null;
  sent_at: number | null;
  /** The agent delivering it now, until `claimed_until`: one delivery among replicas. */
  claimed_by: string | null;
  claimed_until: number | null;
}

/** The one row every control change bumps first (migration 0008): agents notice a change by reading this number. */
export interface ControlVersionTable {
  id: number;
  version: number;
}

/** A pause in force: of every symbol (`*`) or one; `cycles` (nothing fires) or `execution` (analysis only). */
export interface ControlPausesTable {
  symbol: string;
  scope: string;
  reason: string;
  by_who: string;
  since: number;
  /** When it ends by itself; null: until `resume`. */
  until: number | null;
  /** 1: `pause --abort`, the cycles in flight are cut when an agent applies it. */
  abort: ColumnType<number, number | undefined, number>;
  audit_id: number;
  /** The guard that wrote it (`orders_cap`, `failures`, `exchange`); null: a person (migration 0011). */
  guard: ColumnType<string | null, string | null | undefined, string | null>;
  /** 0: a window planned ahead whose start no agent has audited yet; 1 otherwise. */
  begun: ColumnType<number, number | undefined, number>;
}

/** Every control action, in the order it was made (`version`). */
export interface ControlAuditTable {
  id: Generated<number>;
  version: number;
  at: number;
  /** `pause`, `resume`, `pause_ended` (a timed pause reaching its end), `trigger`, `trigger_expired`, `reschedule`. */
  action: string;
  symbol: string;
  scope: string;
  /** The arguments as given, a JSON object. */
  args: string;
  reason: string | null;
  by_who: string;
}

/** The pattern `reschedule` set over CRON_PATTERN: one row (id 1), or none (the environment's pattern). */
export interface ControlScheduleTable {
  id: number;
  /** The jobs it moves (control/state.ts targetOf); null: every job (row 1). Migration 0015. */
  target: string | null;
  pattern: string;
  reason: string;
  by_who: string;
  since: number;
  audit_id: number;
}

/** A run-now request (`trigger`): `pending` until one agent takes it, or `expired` when none did in time. */
export interface ControlTriggersTable {
  id: Generated<number>;
  /** `*`: every symbol. */
  symbol: string;
  requested_at: number;
  expires_at: number;
  audit_id: number;
  state: 'pending' | 'taken' | 'expired';
  taken_by: string | null;
  /** The `scheduled_at` of the manual cycles it fired. */
  slot: number | null;
}

/** When each agent applied each control action. */
export interface ControlAppliedTable {
  audit_id: number;
  owner: string;
  applied_at: number;
}

export interface Schema {
  cycles: CyclesTable;
  attempts: AttemptsTable;
  agents: AgentsTable;
  notifications: NotificationsTable;
  control_version: ControlVersionTable;
  control_pauses: ControlPausesTable;
  control_audit: ControlAuditTable;
  control_triggers: ControlTriggersTable;
  control_schedule: ControlScheduleTable;
  control_applied: ControlAppliedTable;
}
