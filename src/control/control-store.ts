import type { Kysely, Transaction } from 'kysely';
import type { Schema } from '../store/schema.ts';
import { inForce, pauseFrom, pausesInForce } from './pauses-in-force.ts';
import { ALL_SYMBOLS, PAUSE_SCOPES, type ControlState, type Pause, type PauseScope, type TriggerRequest } from './state.ts';

/**
 * Live control, the store side: the control tables' queries (migration 0008). Every change is one transaction that
 * first bumps `control_version`: concurrent changes wait for each other there (a row lock on PostgreSQL, the write
 * lock on SQLite), so they are all recorded, in order, and an agent that reads a new version reloads the state.
 */

/**
 * The version agents compare with theirs every CONTROL_POLL_MS: one row by its primary key. The query is compiled
 * once per database: building it anew each time cost more CPU than running it (docs/benchmarks.md).
 */
export function versionReader(db: Kysely<Schema>): () => Promise<number> {
  const query = db.selectFrom('control_version').select('version').where('id', '=', 1).compile();
  return async () => {
    const { rows } = await db.executeQuery(query);
    if (rows[0] === undefined) throw new Error('control_version has no row: the database was not migrated by this version');
    return Number(rows[0].version);
  };
}

/**
 * The state in force. The version is read first: a change committed in between makes the next poll reload again.
 * A watcher passes the reader it compiled once.
 */
export async function readControlState(db: Kysely<Schema>, readVersion = versionReader(db)): Promise<ControlState> {
  const version = await readVersion();
  const rows = await db.selectFrom('control_pauses').selectAll().orderBy('audit_id').execute();
  const triggers = await db
    .selectFrom('control_triggers')
    .innerJoin('control_audit', 'control_audit.id', 'control_triggers.audit_id')
    .select(['control_triggers.id', 'control_triggers.symbol', 'requested_at', 'expires_at', 'by_who', 'reason'])
    .where('state', '=', 'pending')
    .orderBy('control_triggers.id')
    .execute();
  const schedule = await db.selectFrom('control_schedule').selectAll().where('id', '=', 1).executeTakeFirst();
  return {
    version,
    pauses: rows.filter((r) => (PAUSE_SCOPES as readonly string[]).includes(r.scope)).map(pauseFrom),
    schedule: schedule ? { pattern: schedule.pattern, reason: schedule.reason, by: schedule.by_who, since: Number(schedule.since), auditId: Number(schedule.audit_id) } : null,
    triggers: triggers.map((r) => ({ id: Number(r.id), symbol: r.symbol, requestedAt: Number(r.requested_at), expiresAt: Number(r.expires_at), by: r.by_who, reason: r.reason })),
  };
}


/** One control action as the audit keeps it; a run-now request's scope is `run`. */
export interface ControlAction {
  action: 'pause' | 'resume' | 'pause_began' | 'pause_ended' | 'trigger' | 'trigger_expired' | 'reschedule' | 'guard' | 'guard_lifted';
  symbol: string;
  scope: PauseScope | 'run' | 'pattern';
  /** The arguments as given (shown by `audit`). */
  args: Record<string, unknown>;
  reason: string | undefined;
  by: string;
  at: number;
}

/** Bumps the version and writes the audit row: the first and last writes of every change. */
export async function audit(tx: Transaction<Schema>, a: ControlAction): Promise<{ auditId: number; version: number }> {
  const bumped = await tx.updateTable('control_version').set((eb) => ({ version: eb('version', '+', 1) })).where('id', '=', 1).returning('version').executeTakeFirstOrThrow();
  const version = Number(bumped.version);
  const row = await tx
    .insertInto('control_audit')
    .values({ version, at: a.at, action: a.action, symbol: a.symbol, scope: a.scope, args: JSON.stringify(a.args), reason: a.reason ?? null, by_who: a.by })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { auditId: Number(row.id), version };
}

/**
 * Pauses `symbol` (or all) in `scope` from `from` (default now: `at`), replacing a person's pause of the same symbol
 * and scope in force now; a guard's pause and windows planned ahead stay. One transaction.
 */
export function pause(db: Kysely<Schema>, a: ControlAction & { scope: PauseScope; until: number | null; reason: string; abort: boolean; from?: number }): Promise<{ auditId: number; version: number }> {
  return db.transaction().execute(async (tx) => {
    const done = await audit(tx, a);
    const since = a.from ?? a.at;
    if (since <= a.at) await tx.deleteFrom('control_pauses').where('symbol', '=', a.symbol).where('scope', '=', a.scope).where('guard', 'is', null).where(inForce(a.at)).execute();
    await tx.insertInto('control_pauses').values({ symbol: a.symbol, scope: a.scope, reason: a.reason, by_who: a.by, since, until: a.until, abort: a.abort ? 1 : 0, audit_id: done.auditId, begun: since <= a.at ? 1 : 0 }).execute();
    return done;
  });
}

/**
 * Lifts the pauses of `scope`: of `symbol` only, or with `symbol` ALL_SYMBOLS every pause of that scope (the whole
 * agent's and each symbol's). The pauses lifted, none when nothing was paused (then nothing is written or audited).
 */
export function resume(db: Kysely<Schema>, a: ControlAction & { scope: PauseScope; planned?: boolean }): Promise<{ lifted: Pause[]; auditId?: number }> {
  return db.transaction().execute(async (tx) => {
    // The delete comes first: it takes the write lock (so a concurrent change waits), and tells whether there is
    // anything to audit at all. Windows planned ahead stay unless `planned` (resume --planned) says otherwise.
    let q = tx.deleteFrom('control_pauses').where('scope', '=', a.scope);
    if (a.planned !== true) q = q.where(inForce(a.at));
    if (a.symbol !== ALL_SYMBOLS) q = q.where('symbol', '=', a.symbol);
    const rows = await q.returningAll().execute();
    if (rows.length === 0) return { lifted: [] as Pause[] };
    const { auditId } = await audit(tx, a);
    return { lifted: rows.map(pauseFrom), auditId };
  });
}

/**
 * Removes a timed pause whose end has come and audits its end, once: every agent may try, the one whose delete finds
 * the row writes the audit. True when this call did it.
 */
export function endPause(db: Kysely<Schema>, p: Pause, owner: string, now: number): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const gone = await tx.deleteFrom('control_pauses').where('symbol', '=', p.symbol).where('scope', '=', p.scope).where('audit_id', '=', p.auditId).returning('audit_id').execute();
    if (gone.length === 0) return false;
    await audit(tx, { action: 'pause_ended', symbol: p.symbol, scope: p.scope, args: { until: new Date(p.until ?? now).toISOString(), pause: p.auditId }, reason: p.reason, by: `agent ${owner}`, at: now });
    return true;
  });
}

/**
 * Sets the pattern over CRON_PATTERN (`pattern`), or with null returns to the environment's; one transaction. With
 * null and no pattern set, nothing is written: false.
 */
export function reschedule(db: Kysely<Schema>, a: ControlAction & { pattern: string | null }): Promise<number | undefined> {
  return db.transaction().execute(async (tx) => {
    // The delete comes first: it takes the write lock, and says whether a reset has anything to undo.
    const gone = await tx.deleteFrom('control_schedule').where('id', '=', 1).returning('id').execute();
    if (a.pattern === null && gone.length === 0) return undefined;
    const { auditId } = await audit(tx, a);
    if (a.pattern !== null) await tx.insertInto('control_schedule').values({ id: 1, pattern: a.pattern, reason: a.reason ?? '', by_who: a.by, since: a.at, audit_id: auditId }).execute();
    return auditId;
  });
}

/** Requests a run-now cycle, pending until `expiresAt`: its audit row and its request, one transaction. */
export function requestTrigger(db: Kysely<Schema>, a: ControlAction & { expiresAt: number }): Promise<{ id: number; auditId: number }> {
  return db.transaction().execute(async (tx) => {
    const { auditId } = await audit(tx, a);
    const row = await tx
      .insertInto('control_triggers')
      .values({ symbol: a.symbol, requested_at: a.at, expires_at: a.expiresAt, audit_id: auditId, state: 'pending', taken_by: null, slot: null })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { id: Number(row.id), auditId };
  });
}

/**
 * Takes a pending request for `owner`, to fire it at `now`: one conditional update, so among replicas exactly one
 * takes it, and never once it has expired. In the same transaction it reads the pauses in force at `now` (issue 22:
 * the database decides, not the agent's copy): those pauses when this agent took it, undefined when it did not.
 */
export function takeTrigger(db: Kysely<Schema>, id: number, owner: string, now: number): Promise<Pause[] | undefined> {
  return db.transaction().execute(async (tx) => {
    const rows = await tx
      .updateTable('control_triggers')
      .set({ state: 'taken', taken_by: owner, slot: now })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .where('expires_at', '>', now)
      .returning('id')
      .execute();
    if (rows.length !== 1) return undefined;
    return pausesInForce(tx, now);
  });
}

/** Marks a request no agent took by its expiry `expired`, and audits it, once (whoever sees it first). */
export function expireTrigger(db: Kysely<Schema>, r: Pick<TriggerRequest, 'id' | 'symbol' | 'expiresAt' | 'reason'>, by: string, now: number): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const rows = await tx.updateTable('control_triggers').set({ state: 'expired' }).where('id', '=', r.id).where('state', '=', 'pending').where('expires_at', '<=', now).returning('id').execute();
    if (rows.length === 0) return false;
    await audit(tx, { action: 'trigger_expired', symbol: r.symbol, scope: 'run', args: { request: r.id, expiresAt: new Date(r.expiresAt).toISOString() }, reason: r.reason ?? undefined, by, at: now });
    return true;
  });
}

/** A request as it stands. */
export async function triggerState(db: Kysely<Schema>, id: number) {
  return db.selectFrom('control_triggers').select(['symbol', 'state', 'taken_by', 'slot', 'expires_at']).where('id', '=', id).executeTakeFirstOrThrow();
}

/** An action as the agent that applied it reads it back. */
export type AppliedAction = Omit<AuditEntry, 'args' | 'applied' | 'outcome'>;

/** Records that `owner` applied every action after `fromVersion` up to `toVersion`; those actions, oldest first. */
export async function recordApplied(db: Kysely<Schema>, owner: string, fromVersion: number, toVersion: number, at: number): Promise<AppliedAction[]> {
  const rows = await db
    .selectFrom('control_audit')
    .select(['id', 'action', 'symbol', 'scope', 'by_who', 'reason', 'at'])
    .where('version', '>', fromVersion)
    .where('version', '<=', toVersion)
    .orderBy('id')
    .execute();
  if (rows.length === 0) return [];
  await db
    .insertInto('control_applied')
    .values(rows.map((r) => ({ audit_id: Number(r.id), owner, applied_at: at })))
    .onConflict((oc) => oc.columns(['audit_id', 'owner']).doNothing())
    .execute();
  return rows.map((r) => ({ id: Number(r.id), action: r.action, symbol: r.symbol, scope: r.scope, by: r.by_who, reason: r.reason, at: Number(r.at) }));
}

/** One audit row with when each agent applied it. */
export interface AuditEntry {
  id: number;
  at: number;
  action: string;
  symbol: string;
  scope: string;
  args: Record<string, unknown>;
  reason: string | null;
  by: string;
  applied: { owner: string; at: number }[];
  /** A run-now request's fate: `pending`, `taken by <owner>` or `expired`. */
  outcome?: string;
}

/** The control actions at or after `since`, oldest first, with their applications. */
export async function queryAudit(db: Kysely<Schema>, since: number | undefined, limit: number): Promise<AuditEntry[]> {
  let q = db.selectFrom('control_audit').selectAll();
  if (since !== undefined) q = q.where('at', '>=', since);
  const rows = (await q.orderBy('id', 'desc').limit(limit).execute()).reverse();
  if (rows.length === 0) return [];
  const applied = await db
    .selectFrom('control_applied')
    .selectAll()
    .where('audit_id', 'in', rows.map((r) => r.id))
    .orderBy('applied_at')
    .execute();
  const triggers = await db
    .selectFrom('control_triggers')
    .select(['audit_id', 'state', 'taken_by', 'slot'])
    .where('audit_id', 'in', rows.map((r) => r.id))
    .execute();
  const outcome = (id: number) => {
    const t = triggers.find((x) => Number(x.audit_id) === id);
    if (t === undefined) return undefined;
    return t.state === 'taken' ? `fired by ${t.taken_by} at ${new Date(Number(t.slot)).toISOString()}` : t.state;
  };
  return rows.map((r) => ({
    id: Number(r.id),
    at: Number(r.at),
    action: r.action,
    symbol: r.symbol,
    scope: r.scope,
    args: JSON.parse(r.args) as Record<string, unknown>,
    reason: r.reason,
    by: r.by_who,
    applied: applied.filter((x) => Number(x.audit_id) === Number(r.id)).map((x) => ({ owner: x.owner, at: Number(x.applied_at) })),
    outcome: outcome(Number(r.id)),
  }));
}

/** The manual cycles a request fired at `slot` (their `scheduled_at`), with their status. */
export function manualCycles(db: Kysely<Schema>, slot: number) {
  return db.selectFrom('cycles').select(['id', 'symbol', 'status']).where('trigger', '=', 'manual').where('scheduled_at', '=', slot).orderBy('id').execute();
}
