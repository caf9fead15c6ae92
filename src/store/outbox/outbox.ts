import type { Kysely, Selectable, Transaction } from 'kysely';
import type { NotificationsTable, Schema } from '../schema.ts';

/** A notification to insert, once per channel; `dedupeKey` keeps a second insert of the same one out. */
export interface NewNotification {
  event: string;
  severity: NotificationsTable['severity'];
  symbol?: string;
  dedupeKey?: string;
  /** The channel-neutral notice as JSON (notify/event.ts); each channel renders it when it delivers. */
  payload: string;
  createdAt: number;
}

export type OutboxRow = Selectable<NotificationsTable>;

/** Inserts `n` for every channel in `channels` (in the caller's transaction when given one); returns how many rows. */
export async function enqueue(db: Kysely<Schema> | Transaction<Schema>, n: NewNotification, channels: readonly string[]): Promise<number> {
  if (channels.length === 0) return 0;
  const rows = channels.map((channel) => ({
    event: n.event,
    severity: n.severity,
    symbol: n.symbol ?? null,
    channel,
    dedupe_key: n.dedupeKey ?? null,
    payload: n.payload,
    created_at: n.createdAt,
    state: 'pending' as const,
    next_at: n.createdAt,
  }));
  const done = await db
    .insertInto('notifications')
    .values(rows)
    .onConflict((oc) => oc.columns(['dedupe_key', 'channel']).doNothing())
    .returning('id')
    .execute();
  return done.length;
}

/**
 * Claims up to `limit` due notifications for `owner` until `until`: an UPDATE whose own WHERE re-checks that the
 * row is still unclaimed, so when two replicas race for a row, PostgreSQL re-evaluates it on the row's newest
 * version and only one gets it (SQLite serialises writers anyway).
 */
export async function claimDue(db: Kysely<Schema>, owner: string, now: number, until: number, limit: number): Promise<OutboxRow[]> {
  const due = db
    .selectFrom('notifications')
    .select('id')
    .where('state', '=', 'pending')
    .where('next_at', '<=', now)
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
    .orderBy('id')
    .limit(limit);
  return db
    .updateTable('notifications')
    .set({ claimed_by: owner, claimed_until: until })
    .where('id', 'in', due)
    .where('state', '=', 'pending')
    .where((eb) => eb.or([eb('claimed_until', 'is', null), eb('claimed_until', '<', now)]))
    .returningAll()
    .execute();
}

/** Releases the claims `owner` holds: a replica (same REPLICA_ID) starting again takes back what its previous life was sending. */
export async function releaseClaims(db: Kysely<Schema>, owner: string): Promise<void> {
  await db.updateTable('notifications').set({ claimed_by: null, claimed_until: null }).where('claimed_by', '=', owner).where('state', '=', 'pending').execute();
}

/** Records one delivery try: sent, given up, or to be tried again at `nextAt`; the claim is released. */
export async function recordDelivery(db: Kysely<Schema>, id: number, r: { state: 'sent' | 'gave_up' | 'pending'; at: number; error?: string; nextAt?: number }): Promise<void> {
  await db
    .updateTable('notifications')
    .set((eb) => ({
      state: r.state,
      attempts: eb('attempts', '+', 1),
      last_error: r.error ?? null,
      sent_at: r.state === 'sent' ? r.at : null,
      next_at: r.nextAt ?? r.at,
      claimed_by: null,
      claimed_until: null,
    }))
    .where('id', '=', id)
    .execute();
}

/** Puts a claimed notification back unclaimed, not to be tried before `nextAt` (a rate limit): no try counted. */
export async function deferDelivery(db: Kysely<Schema>, id: number, nextAt: number): Promise<void> {
  await db.updateTable('notifications').set({ next_at: nextAt, claimed_by: null, claimed_until: null }).where('id', '=', id).execute();
}

/** The notifications created at or after `since`, newest first (the `alerts` command). */
export function listNotifications(db: Kysely<Schema>, since: number, limit: number): Promise<OutboxRow[]> {
  return db.selectFrom('notifications').selectAll().where('created_at', '>=', since).orderBy('id', 'desc').limit(limit).execute();
}
