import type { Kysely } from 'kysely';
import { claimsAnswered, cycleRow, SLOT_KEY } from './claims.ts';
import { isOrphaned, markInterrupted } from './leases.ts';
import { enqueue, type NewNotification } from '../outbox/outbox.ts';
import type { BackendTraits, CycleEnd, HistoryStore, NewCycle, VoidedClaim } from '../port.ts';
import type { Schema } from '../schema.ts';
import { whereStatus } from './status-filter.ts';

/** The reason of a slot not fired because its claim's outcome was unknown (voidClaim). */
export const UNCLAIMED = 'unclaimed';

/** A failure streak that reached the threshold, or ended: what `failing` and `recovered` notifications say. */
export interface StreakNotice {
  event: 'failing' | 'recovered';
  symbol: string;
  cycle: number;
  /** The failed cycles in a row (for `recovered`, before this success; at least the threshold). */
  streak: number;
  /** The id of the streak's first failed cycle: with the symbol, it names the outage. */
  streakStart: number;
  lastError?: string;
  at: number;
  owner: string;
}

/** What the notification policy found at a cycle's end: a streak reached its threshold, or ended. */
export interface StreakFound {
  event: 'failing' | 'recovered';
  streakStart: number;
  streak: number;
}

/**
 * Notifications written with a cycle's end, in its transaction (issue #13); absent: none. The policy is notify's
 * (notify/policy.ts): the store reads the symbol's last `after + 1` ended cycles and asks.
 */
export interface EndNotices {
  /** `failing` after this many failed cycles in a row. */
  after: number;
  channels: readonly string[];
  decide(recent: readonly { id: number; status: string }[]): StreakFound | undefined;
  build(notice: StreakNotice): NewNotification;
}

/**
 * The history store over kysely; `redact` runs on every text column written, so no secret is ever stored.
 * `traits` (the backend's) decide how a startup cycle is claimed; default: SQLite's, one claim per start.
 */
export function createHistoryStore(
  db: Kysely<Schema>,
  redact: (text: string) => string,
  traits?: Pick<BackendTraits, 'startupOncePerInterval' | 'lockForStartupClaim'>,
  notices?: EndNotices,
): HistoryStore {
  const clean = (text: string | undefined) => (text === undefined ? null : redact(text));
  const endRow = (e: CycleEnd) => cycleEndRow(e, clean);
  const watched = notices !== undefined && notices.channels.length > 0;
  const claims = claimsAnswered(db, traits);
  return {
    claimCycle: (c) => claims.claim(c),
    claimAnswer: (id) => claims.answer(id),

    async recordSkipped(c, reason, error) {
      const row = await db
        .insertInto('cycles')
        .values({ ...cycleRow(c, 'skipped'), finished_at: c.startedAt, reason, error: redact(error) })
        .onConflict((oc) => oc.columns(SLOT_KEY).doNothing())
        .returning('id')
        .executeTakeFirst();
      return row !== undefined;
    },

    voidClaim: (c, error) => voidClaimRow(db, c, endRow({ finishedAt: c.startedAt, status: 'skipped', attempts: 0, reason: UNCLAIMED, error, executed: false })),

    async finishCycle(id, e) {
      if (!watched || (e.status !== 'failed' && e.status !== 'succeeded')) {
        await db.updateTable('cycles').set(endRow(e)).where('id', '=', id).execute();
        return;
      }
      await finishWatched(db, id, e.finishedAt, endRow(e), notices);
    },

    async startAttempt(a) {
      const row = await db
        .insertInto('attempts')
        .values({ cycle_id: a.cycleId, number: a.number, request_id: a.requestId, started_at: a.startedAt })
        .returning('id')
        .executeTakeFirstOrThrow();
      return row.id;
    },

    async finishAttempt(id, e) {
      await db
        .updateTable('attempts')
        .set({
          finished_at: e.finishedAt,
          sent_at: e.sentAt ?? null,
          duration_ms: e.durationMs,
          outcome: e.outcome,
          http_status: e.httpStatus ?? null,
          error: clean(e.error),
          response_excerpt: clean(e.excerpt),
        })
        .where('id', '=', id)
        .execute();
    },

    async recoverInterrupted(now, self, isAlive) {
      const running = await whereStatus(db.selectFrom('cycles').select(['id', 'owner', 'deadline_at', 'lease_until']), 'running').execute();
      const dead = running.filter((r) => isOrphaned(r, now, self, isAlive)).map((r) => r.id);
      return (await markInterrupted(db, dead, now, 'agent_died')).length;
    },
  };
}

/** The failed cycles of `symbol` between its previous success and `before` (the length of the streak a success ends). */
async function failedSinceSuccess(db: Kysely<Schema>, symbol: string, before: number): Promise<number> {
  const last = await db.selectFrom('cycles').select((eb) => eb.fn.max('scheduled_at').as('at')).where('symbol', '=', symbol).where('status', '=', 'succeeded').where('scheduled_at', '<', before).executeTakeFirst();
  const row = await db
    .selectFrom('cycles')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('symbol', '=', symbol)
    .where('status', '=', 'failed')
    .where('scheduled_at', '<', before)
    .where('scheduled_at', '>', Number(last?.at ?? -1))
    .executeTakeFirst();
  return Number(row?.n ?? 0);
}

/** The columns of a cycle's end; `clean` redacts the texts. */
function cycleEndRow(e: CycleEnd, clean: (text: string | undefined) => string | null) {
  return {
    finished_at: e.finishedAt,
    status: e.status,
    attempts: e.attempts,
    reason: e.reason ?? null,
    error: clean(e.error),
    http_status: e.httpStatus ?? null,
    summary: clean(e.summary),
    executed: e.executed ? 1 : 0,
    execution_failed: e.executionFailed === true ? 1 : 0,
    ...(e.executionOff === undefined ? {} : { execution_off: e.executionOff }),
    lease_until: null, // a lease is a running cycle's only
  };
}

/** voidClaim: closes our running row of the slot as skipped, or records the slot skipped if no row holds it. */
function voidClaimRow(db: Kysely<Schema>, c: NewCycle, ended: ReturnType<typeof cycleEndRow>): Promise<VoidedClaim> {
  return db.transaction().execute(async (tx) => {
    // The slot key finds the row through its unique index; the key tells ours from another agent's.
    const ours = await whereStatus(tx.updateTable('cycles').set(ended), 'running')
      .where('symbol', '=', c.symbol)
      .where('timeframe', '=', c.timeframe)
      .where('trigger', '=', c.trigger)
      .where('scheduled_at', '=', c.scheduledAt)
      .where('idempotency_key', '=', c.idempotencyKey)
      .executeTakeFirst();
    if (Number(ours.numUpdatedRows) > 0) return 'closed';
    const held = await tx
      .insertInto('cycles')
      .values({ ...cycleRow(c, 'skipped'), ...ended })
      .onConflict((oc) => oc.columns(SLOT_KEY).doNothing())
      .returning('id')
      .executeTakeFirst();
    return held ? 'held' : 'taken';
  });
}

/** A cycle's end with the streak notification it causes, in one transaction: a crash between them cannot lose the alert. */
async function finishWatched(db: Kysely<Schema>, id: number, finishedAt: number, row: ReturnType<typeof cycleEndRow>, notices: EndNotices): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const me = await tx.updateTable('cycles').set(row).where('id', '=', id).returning(['symbol', 'scheduled_at', 'owner']).executeTakeFirst();
    if (!me) return;
    const recent = await tx
      .selectFrom('cycles')
      .select(['id', 'status'])
      .where('symbol', '=', me.symbol)
      .where('scheduled_at', '<=', me.scheduled_at)
      .where('status', 'in', ['failed', 'succeeded'])
      .orderBy('scheduled_at', 'desc')
      .limit(notices.after + 1)
      .execute();
    const found = notices.decide(recent);
    if (!found) return;
    if (found.event === 'recovered') found.streak = await failedSinceSuccess(tx, me.symbol, me.scheduled_at);
    const notice = { ...found, symbol: me.symbol, cycle: id, lastError: row.error ?? undefined, at: finishedAt, owner: me.owner };
    await enqueue(tx, notices.build(notice), notices.channels);
  });
}
