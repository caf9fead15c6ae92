import type { Kysely } from 'kysely';
import type { Logger } from '../log/logger.ts';
import type { EndNotices } from '../store/history/history-store.ts';
import { enqueue } from '../store/outbox/outbox.ts';
import type { Schema } from '../store/schema.ts';
import { BACKOFF_JITTER, backoffDelay, type Backoff } from '../time/backoff.ts';
import { settlesWithin, type Clock } from '../time/clock.ts';
import type { Channel, Delivery } from './channel.ts';
import { channelsOf, type ChannelSettings } from './channels.ts';
import { startDelivery } from './deliver.ts';
import { noticeOf, type Notice, type NoticeFields, type NotificationEvent } from './event.ts';
import { healthchecksChannel, pingChain } from './healthchecks.ts';
import { endNotices } from './policy.ts';

/** The slice of the configuration notifications use. */
export interface NotifySettings extends ChannelSettings {
  alertAfterFailures: number;
}

type Extra = NoticeFields & { dedupeKey?: string };

/** What the agent tells a person, and the dead-man's switch it keeps pinging. Nothing here ever throws or waits. */
export interface Notifier {
  /** Writes the event to the outbox for every channel and wakes the delivery loop; a failure is logged. */
  notify(event: NotificationEvent, headline: string, extra?: Extra): void;
  /** Sends without the database (which is what `storage_fault` is about): from memory, a few tries. */
  direct(event: NotificationEvent, headline: string, extra?: Extra): void;
  /** Written with a cycle's end, in its transaction: `failing` and `recovered` (notify/policy.ts). */
  readonly endNotices: EndNotices | undefined;
  /** Healthchecks: a cycle's request left (`/start`), or it ended (success, or `/fail`). */
  cycleStarted(): void;
  cycleEnded(ok: boolean, detail: string): void;
  /**
   * At the agent's stop: waits for the outbox writes and pings under way, then delivers what is due (`stopping`
   * included) for at most `withinMs`; what is left waits in the outbox for the next start or another replica.
   */
  close(withinMs: number): Promise<void>;
}

export interface NotifierDeps {
  db: Kysely<Schema>;
  owner: string;
  clock: Clock;
  log: Logger;
  redact: (t: string) => string;
}

/** Tries of a notification sent from memory (storage_fault), and of a Healthchecks ping. */
const DIRECT_TRIES = 3;
/** Between them: 1 s, then 2 s (each up to a fifth shorter). */
const DIRECT_BACKOFF: Backoff = { firstMs: 1000, maxMs: 2000, jitter: BACKOFF_JITTER };

/** Promises under way (outbox writes, direct sends, pings), which `close` waits for. */
function tracker() {
  const pending = new Set<Promise<unknown>>();
  return {
    track(p: Promise<unknown>) {
      pending.add(p);
      void p.finally(() => pending.delete(p));
    },
    settled: () => Promise.allSettled([...pending]),
  };
}

/** One send with a few tries (DIRECT_TRIES, DIRECT_BACKOFF), cut short by `ending`: for what has no outbox row. */
function directSender(clock: Clock, ending: AbortSignal) {
  return async (attempt: () => Promise<Delivery>): Promise<Delivery> => {
    let last: Delivery = { ok: false, retryable: true, error: 'not tried' };
    for (let i = 1; i <= DIRECT_TRIES; i++) {
      last = await attempt();
      if (last.ok || !last.retryable) break;
      if (i < DIRECT_TRIES && !ending.aborted) await clock.sleep(backoffDelay(DIRECT_BACKOFF, i, clock.random), ending);
    }
    return last;
  };
}

export function createNotifier(s: NotifySettings, d: NotifierDeps): Notifier {
  const log = d.log.child('NOTIFY');
  const channels: Channel[] = channelsOf(s);
  const keys = channels.map((c) => c.key);
  const delivery = startDelivery({ db: d.db, owner: d.owner, channels, clock: d.clock, log, redact: d.redact });
  const ending = new AbortController();
  const { track, settled } = tracker();
  const tries = directSender(d.clock, ending.signal);
  const notice = (event: NotificationEvent, headline: string, extra: Extra = {}): Notice => {
    const { dedupeKey: _key, ...fields } = extra;
    return noticeOf(event, d.redact(headline), d.clock.now(), d.owner, fields.lastError === undefined ? fields : { ...fields, lastError: d.redact(fields.lastError) });
  };
  const hc = s.healthcheckPingUrl === undefined ? undefined : pingChain(healthchecksChannel(s.healthcheckPingUrl), log, d.redact, tries, track);
  const ping = (ok: boolean | undefined, detail: string) =>
    hc?.(() => noticeOf(ok === undefined ? 'cycle_started' : 'cycle_ended', d.redact(detail), d.clock.now(), d.owner, ok === undefined ? {} : { details: { ok } }));

  const notifier: Notifier = {
    notify(event, headline, extra) {
      if (keys.length === 0) return;
      const n = notice(event, headline, extra);
      const write = enqueue(d.db, { event, severity: n.severity, symbol: n.symbol, dedupeKey: extra?.dedupeKey, payload: JSON.stringify(n), createdAt: d.clock.now() }, keys)
        .then(() => delivery.wake())
        .catch((err) => {
          log.warn(`Could not write the ${event} notification to the outbox; sending it from memory`, {}, err);
          notifier.direct(event, headline, extra);
        });
      track(write);
    },
    direct(event, headline, extra) {
      const n = notice(event, headline, extra);
      for (const c of channels) {
        track(
          tries(() => c.send(c.render(n))).then((r) => {
            if (!r.ok) log.error(`Could not deliver the ${event} notification to ${c.key}: ${d.redact(r.error)}`);
          }),
        );
      }
    },
    endNotices: endNotices(s.alertAfterFailures, keys),
    cycleStarted: () => ping(undefined, ''),
    cycleEnded: (ok, detail) => ping(ok, detail),
    async close(withinMs) {
      const by = d.clock.now() + withinMs;
      await settlesWithin(d.clock, withinMs, settled());
      await delivery.stop(Math.max(0, by - d.clock.now()));
      ending.abort();
    },
  };
  return notifier;
}
