import type { Kysely } from 'kysely';
import type { Logger } from '../log/logger.ts';
import { spell } from '../log/spell.ts';
import { claimDue, deferDelivery, recordDelivery, releaseClaims, type OutboxRow } from '../store/outbox/outbox.ts';
import type { Schema } from '../store/schema.ts';
import { BACKOFF_JITTER, backoffDelay, type Backoff, type Draw } from '../time/backoff.ts';
import { settlesWithin, type Clock } from '../time/clock.ts';
import { wakeable } from '../time/every.ts';
import type { Channel, Delivery } from './channel.ts';
import { readNotice } from './event.ts';

/** How often the outbox is looked at when nothing woke the loop (another replica's rows, retries that came due). */
export const DELIVERY_POLL_MS = 1000;
/**
 * A claimed row is this agent's to deliver until then; a crash mid-delivery hands it to another after it. Rows are
 * claimed one at a time, so one try (DELIVERY_TIMEOUT_MS at most, then a write) always ends well within it.
 */
export const DELIVERY_CLAIM_MS = 15_000;
/** Tries of one notification before it is given up (about 50 minutes with the backoff below). */
export const DELIVERY_MAX_TRIES = 12;
/** Between tries of one notification: 2 s doubling to 10 minutes (each up to a fifth shorter). */
export const DELIVERY_BACKOFF: Backoff = { firstMs: 2000, maxMs: 600_000, jitter: BACKOFF_JITTER };
/** A receiver's Retry-After (or Telegram's retry_after) is honoured up to this long. */
export const RETRY_AFTER_CAP_MS = 600_000;
/** At most this many deliveries per channel per minute, per agent: an outage of many symbols does not flood a chat. */
export const CHANNEL_RATE_PER_MINUTE = 20;

export interface DeliveryDeps {
  db: Kysely<Schema>;
  /** Who claims rows: the agent's owner name. */
  owner: string;
  channels: readonly Channel[];
  clock: Clock;
  log: Logger;
  /** Every text that leaves for the log or the database (webhook URLs are secrets). */
  redact: (text: string) => string;
}

/** How long a receiver asked to be left alone (pure): its Retry-After, capped; 0 when it asked nothing. */
export const heldFor = (d: Delivery): number => (d.ok || d.retryAfterMs === undefined ? 0 : Math.min(d.retryAfterMs, RETRY_AFTER_CAP_MS));

/**
 * What becomes of a notification after a try (pure): sent, tried again later (after the backoff, or the receiver's
 * Retry-After when it asks for longer, as a Diego retry does), or given up.
 */
export function afterTry(d: Delivery, tries: number, now: number, draw?: Draw): { state: 'sent' | 'pending' | 'gave_up'; nextAt?: number } {
  if (d.ok) return { state: 'sent' };
  if (!d.retryable || tries >= DELIVERY_MAX_TRIES) return { state: 'gave_up' };
  return { state: 'pending', nextAt: now + Math.max(backoffDelay(DELIVERY_BACKOFF, tries, draw), heldFor(d)) };
}

/**
 * Per channel, when the next try may go: our rate limit (CHANNEL_RATE_PER_MINUTE) and the wait a receiver asked
 * for (a 429's Retry-After). `wait(key, now)` is the time to defer a row to, or undefined when it may go now (the
 * try is then counted); `tried` records what the receiver asked.
 */
function channelGate() {
  const sentAt = new Map<string, number[]>(); // per channel, this minute's deliveries
  const heldUntil = new Map<string, number>();
  return {
    wait(key: string, now: number): number | undefined {
      const recent = (sentAt.get(key) ?? []).filter((t) => t > now - 60_000);
      sentAt.set(key, recent);
      const held = heldUntil.get(key) ?? 0;
      const full = recent.length >= CHANNEL_RATE_PER_MINUTE;
      if (full || held > now) return Math.max(held, full ? recent[0]! + 60_000 : 0);
      recent.push(now);
      return undefined;
    },
    tried(key: string, d: Delivery, at: number) {
      if (heldFor(d) > 0) heldUntil.set(key, at + heldFor(d));
    },
  };
}

/**
 * The delivery loop: claims due rows of the outbox, renders each for its channel and
 * sends it, and records the outcome. It runs beside the agent and never on a slot's path: a webhook that hangs costs this loop its timeout, no slot. `wake()`
 * looks at once (a notification this agent just wrote).
 */
export function startDelivery(d: DeliveryDeps): { wake(): void; stop(withinMs: number): Promise<void> } {
  const { db, clock } = d;
  const ending = new AbortController();
  const stop = ending.signal;
  const byKey = new Map(d.channels.map((c) => [c.key, c]));
  const gate = channelGate();
  const outbox = spell(d.log, (why) => `Could not read the notification outbox: ${why}; retrying every ${DELIVERY_POLL_MS / 1000} s`, 'Notification outbox readable again');
  const channelDown = new Map(d.channels.map((c) => [c.key, spell(d.log, (why) => `Notifications to ${c.key} fail: ${d.redact(why)}; retrying with backoff`, `Notifications to ${c.key} delivered again`)]));

  const deliver = async (row: OutboxRow) => {
    const now = clock.now();
    const channel = byKey.get(row.channel);
    if (!channel) {
      await recordDelivery(db, row.id, { state: 'gave_up', at: now, error: 'the channel is no longer configured' });
      return;
    }
    const waitUntil = gate.wait(channel.key, now);
    if (waitUntil !== undefined) {
      // Rate-limited (ours, or the receiver's Retry-After): the row waits, the try not counted against it.
      await deferDelivery(db, row.id, waitUntil);
      return;
    }
    const result = await channel.send(channel.render(readNotice(row.payload, `outbox-${row.id}`)));
    const done = clock.now();
    gate.tried(channel.key, result, done);
    const next = afterTry(result, row.attempts + 1, done, clock.random);
    const health = channelDown.get(channel.key)!;
    if (result.ok) health.ok();
    else health.failed(new Error(result.error));
    await recordDelivery(db, row.id, { state: next.state, at: done, nextAt: next.nextAt, error: result.ok ? undefined : d.redact(result.error) });
    if (next.state === 'gave_up' && !result.ok) d.log.error(`Gave up notification #${row.id} (${row.event}) to ${channel.key} after ${row.attempts + 1} tries: ${d.redact(result.error)}`);
  };

  /** Delivers every due row, one claim at a time, until none is due (or the loop is stopping). */
  const round = async () => {
    for (let n = 0; n < 100; n++) {
      let row: OutboxRow | undefined;
      try {
        const now = clock.now();
        [row] = await claimDue(db, d.owner, now, now + DELIVERY_CLAIM_MS, 1);
        outbox.ok();
      } catch (err) {
        outbox.failed(err);
        return;
      }
      if (!row) return;
      try {
        await deliver(row);
      } catch (err) {
        outbox.failed(err); // the row stays claimed until DELIVERY_CLAIM_MS, then it is tried again
      }
    }
  };

  // Claims left by this owner's previous life (a crash mid-delivery) are let go before the first round takes any.
  const released = d.channels.length === 0 ? undefined : releaseClaims(db, d.owner).catch((err) => outbox.failed(err));
  const loop = released && wakeable(clock, stop, () => DELIVERY_POLL_MS, async () => {
    await released;
    await round();
  }, 0);
  return {
    wake: () => loop?.wake(),
    /**
     * One last round (what the agent wrote as it stopped, `stopping` included), for at most `withinMs`; what is
     * left stays in the outbox, claimed until DELIVERY_CLAIM_MS, for the next start or another replica.
     */
    async stop(withinMs) {
      if (!loop) return;
      const last = (async () => {
        await round();
        ending.abort();
        await loop.done;
      })();
      await settlesWithin(clock, withinMs, last);
      ending.abort();
    },
  };
}
