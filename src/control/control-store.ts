import type { Kysely } from 'kysely';
import type { Schema } from '../store/schema.ts';
import { pauseFrom, pausesInForce } from './pauses-in-force.ts';
import { PAUSE_SCOPES, type ControlState, type Pause } from './state.ts';

/**
 * Live control, the store side: the control tables' reads (migration 0008), and the take of a run-now request. Every
 * change goes through applyControl (apply.ts).
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
  const schedules = await db.selectFrom('control_schedule').selectAll().orderBy('id').execute();
  const schedule = schedules.find((r) => r.target === null);
  const rescheduleOf = (r: (typeof schedules)[number]) => ({ pattern: r.pattern, reason: r.reason, by: r.by_who, since: Number(r.since), auditId: Number(r.audit_id) });
  return {
    version,
    pauses: rows.filter((r) => (PAUSE_SCOPES as readonly string[]).includes(r.scope)).map(pauseFrom),
    schedule: schedule ? rescheduleOf(schedule) : null,
    // Only when some are set: a state without them reads as it always did.
    ...(schedules.some((r) => r.target !== null) ? { jobSchedules: schedules.filter((r) => r.target !== null).map((r) => ({ ...rescheduleOf(r), target: r.target! })) } : {}),
    triggers: triggers.map((r) => ({ id: Number(r.id), symbol: r.symbol, requestedAt: Number(r.requested_at), expiresAt: Number(r.expires_at), by: r.by_who, reason: r.reason })),
  };
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
  const slots = triggers.filter((t) => t.state === 'taken' && t.slot !== null).map((t) => Number(t.slot));
  const manual = slots.length === 0 ? [] : await db.selectFrom('cycles').select(['scheduled_at', 'status', 'reason']).where('trigger', '=', 'manual').where('scheduled_at', 'in', slots).execute();
  const outcome = (id: number) => {
    const t = triggers.find((x) => Number(x.audit_id) === id);
    if (t === undefined) return undefined;
    if (t.state !== 'taken') return t.state;
    return takenOutcome(t.taken_by ?? '?', Number(t.slot), manual.filter((c) => Number(c.scheduled_at) === Number(t.slot)));
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

/**
 * What became of a request an agent took, from its manual cycles: `fired by …`, or `skipped by … (paused): not fired`
 * when a pause skipped every one of them, or `fired by … (n of m skipped: paused)` when it skipped some.
 */
function takenOutcome(owner: string, slot: number, cycles: readonly { status: string; reason: string | null }[]): string {
  const at = `${owner} at ${new Date(slot).toISOString()}`;
  const skipped = cycles.filter((c) => c.status === 'skipped');
  const why = [...new Set(skipped.map((c) => c.reason ?? 'skipped'))].join(', ');
  if (skipped.length === 0) return `fired by ${at}`;
  if (skipped.length === cycles.length) return `skipped by ${at} (${why}): not fired`;
  return `fired by ${at} (${skipped.length} of ${cycles.length} skipped: ${why})`;
}

/** The manual cycles a request fired at `slot` (their `scheduled_at`), with their status. */
export function manualCycles(db: Kysely<Schema>, slot: number) {
  return db.selectFrom('cycles').select(['id', 'symbol', 'status']).where('trigger', '=', 'manual').where('scheduled_at', '=', slot).orderBy('id').execute();
}
