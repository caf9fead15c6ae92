import type { Kysely } from 'kysely';
import type { Logger } from '../log/logger.ts';
import { spell } from '../log/spell.ts';
import type { EndNotices, StreakNotice } from '../store/history/history-store.ts';
import { enqueue } from '../store/outbox/outbox.ts';
import type { Schema } from '../store/schema.ts';
import { BACKOFF_JITTER, backoffDelay, type Backoff } from '../time/backoff.ts';
import { settlesWithin, type Clock } from '../time/clock.ts';
import { postJson, sendJson, webhookChannels, type Channel, type Delivery, type Send } from './channels.ts';
import { startDelivery } from './deliver.ts';
import { notificationBody, type NotificationBody, type NotificationEvent } from './payload.ts';

/** The slice of the configuration notifications use. */
export interface NotifySettings {
  alertWebhookUrls: string[];
  healthcheckPingUrl: string | undefined;
  alertAfterFailures: number;
}

type Extra = Parameters<typeof notificationBody>[4] & { dedupeKey?: string };

/** What the agent tells a person, and the dead-man's switch it keeps pinging. Nothing here ever throws or waits. */
export interface Notifier {
  /** Writes the event to the outbox for every webhook and wakes the delivery loop; a failure is logged. */
  notify(event: NotificationEvent, headline: string, extra?: Extra): void;
  /** Sends without the database (which is what `storage_fault` is about): from memory, a few tries. */
  direct(event: NotificationEvent, headline: string, extra?: Extra): void;
  /** Written with a cycle's end, in its transaction: `failing` and `recovered` (history-store.ts). */
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

/** Tries of a notification sent from memory (storage_fault), and of a Healthchecks ping. */
const DIRECT_TRIES = 3;
/** Between them: 1 s, then 2 s (each up to a fifth shorter). */
const DIRECT_BACKOFF: Backoff = { firstMs: 1000, maxMs: 2000, jitter: BACKOFF_JITTER };
/** Healthchecks pings waiting their turn, at most. */
const MAX_QUEUED_PINGS = 10;

/** The notifier: the outbox, the direct sends and the Healthchecks ping chain, over one set of channels and one redactor. */
export function createNotifier(
  s: NotifySettings,
  d: { db: Kysely<Schema>; owner: string; clock: Clock; log: Logger; redact: (t: string) => string; send?: Send },
): Notifier {
  const log = d.log.child('NOTIFY');
  const channels: Channel[] = webhookChannels(s.alertWebhookUrls);
  const keys = channels.map((c) => c.key);
  const send = d.send ?? sendJson;
  const delivery = startDelivery({ db: d.db, owner: d.owner, channels, clock: d.clock, log, redact: d.redact, send });
  const ending = new AbortController();
  const body = (event: NotificationEvent, headline: string, extra: Extra = {}): NotificationBody => {
    const { dedupeKey: _key, ...fields } = extra;
    return notificationBody(event, d.redact(headline), d.clock.now(), d.owner, fields.lastError === undefined ? fields : { ...fields, lastError: d.redact(fields.lastError) });
  };
  const pending = new Set<Promise<unknown>>();
  const track = (p: Promise<unknown>) => {
    pending.add(p);
    void p.finally(() => pending.delete(p));
  };
  const retrying = async (attempt: () => Promise<Delivery>): Promise<Delivery> => {
    let last: Delivery = { ok: false, retryable: true, error: 'not tried' };
    for (let i = 1; i <= DIRECT_TRIES && !last.ok; i++) {
      last = await attempt();
      if (last.ok || !last.retryable) break;
      if (i < DIRECT_TRIES && !ending.signal.aborted) await d.clock.sleep(backoffDelay(DIRECT_BACKOFF, i, d.clock.random), ending.signal);
    }
    return last;
  };

  // The dead-man's switch: Healthchecks.io's protocol, one ping at a time and in order (a /start before its end).
  const pings = spell(log, (why) => `Healthchecks pings fail: ${d.redact(why)}; the check will go down if this lasts`, 'Healthchecks pings delivered again');
  let chain: Promise<unknown> = Promise.resolve();
  let queuedPings = 0;
  const ping = (suffix: '' | '/start' | '/fail', text: string) => {
    const url = s.healthcheckPingUrl;
    if (url === undefined) return;
    // A Healthchecks that hangs must not pile pings up in memory: past a few waiting, new ones are dropped (the
    // check then sees pings missing, which is what it is for).
    if (queuedPings >= MAX_QUEUED_PINGS) {
      pings.failed(new Error(`${MAX_QUEUED_PINGS} pings already waiting; dropping ${suffix || 'success'}`));
      return;
    }
    queuedPings++;
    // setImmediate: never in the same turn as a slot's request.
    chain = chain.then(
      () =>
        new Promise<void>((resolve) =>
          setImmediate(async () => {
            const r = await retrying(() => postText(`${url}${suffix}`, text));
            queuedPings--;
            if (r.ok) pings.ok();
            else pings.failed(new Error(r.error));
            resolve();
          }),
        ),
    );
    track(chain);
  };

  const notifier: Notifier = {
    notify(event, headline, extra) {
      if (keys.length === 0) return;
      const b = body(event, headline, extra);
      const write = enqueue(d.db, { event, severity: b.severity, symbol: b.symbol, dedupeKey: extra?.dedupeKey, payload: JSON.stringify(b), createdAt: d.clock.now() }, keys)
        .then(() => delivery.wake())
        .catch((err) => {
          log.warn(`Could not write the ${event} notification to the outbox; sending it from memory`, {}, err);
          notifier.direct(event, headline, extra);
        });
      track(write);
    },
    direct(event, headline, extra) {
      if (channels.length === 0) return;
      const b = body(event, headline, extra);
      for (const c of channels) {
        track(
          retrying(() => send(c.url, b)).then((r) => {
            if (!r.ok) log.error(`Could not deliver the ${event} notification to ${c.key}: ${d.redact(r.error)}`);
          }),
        );
      }
    },
    endNotices: keys.length === 0 ? undefined : {
      after: s.alertAfterFailures,
      channels: keys,
      build: (n: StreakNotice) => {
        const headline =
          n.event === 'failing'
            ? `${n.symbol} failing: ${n.streak} cycles in a row failed (cycle #${n.cycle})`
            : `${n.symbol} recovered: cycle #${n.cycle} succeeded after ${n.streak} failed in a row`;
        const b = notificationBody(n.event, headline, n.at, n.owner, { symbol: n.symbol, cycle: n.cycle, counts: { streak: n.streak }, lastError: n.lastError });
        return { event: n.event, severity: b.severity, symbol: n.symbol, dedupeKey: `${n.event}:${n.symbol}:${n.streakStart}`, payload: JSON.stringify(b), createdAt: n.at };
      },
    },
    cycleStarted: () => ping('/start', ''),
    cycleEnded: (ok, detail) => ping(ok ? '' : '/fail', detail),
    async close(withinMs) {
      const by = d.clock.now() + withinMs;
      await settlesWithin(d.clock, withinMs, Promise.allSettled([...pending]));
      await delivery.stop(Math.max(0, by - d.clock.now()));
      ending.abort();
    },
  };
  return notifier;
}

/** A Healthchecks ping: a POST whose body (a cycle's outcome) shows in the check's log. */
function postText(url: string, text: string): Promise<Delivery> {
  return postJson(url, text.slice(0, 1000));
}
