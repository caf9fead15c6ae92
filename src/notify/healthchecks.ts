import type { Logger } from '../log/logger.ts';
import { spell } from '../log/spell.ts';
import { post, type Channel, type Delivery } from './channel.ts';
import type { Notice } from './event.ts';

/** A ping: the path after the check's URL and the text its log shows. */
export interface Ping {
  suffix: '' | '/start' | '/fail' | '/log';
  text: string;
}

/**
 * Healthchecks.io's protocol as a channel (pure render): a cycle's request left → `/start`; it ended → the URL
 * itself on success, `/fail` on failure, its outcome as the body; any other notice (`alerts test`) → `/log`, which
 * changes no state.
 */
export function pingOf(n: Notice): Ping {
  const text = n.headline.slice(0, 1000);
  if (n.event === 'cycle_started') return { suffix: '/start', text: '' };
  if (n.event === 'cycle_ended') return { suffix: n.details?.ok === true ? '' : '/fail', text };
  return { suffix: '/log', text };
}

/** The Healthchecks channel for HEALTHCHECK_PING_URL: a POST whose body shows in the check's log. */
export function healthchecksChannel(url: string): Channel<Ping> {
  return { key: 'healthchecks', render: pingOf, send: (p, signal) => post({ url: `${url}${p.suffix}`, body: p.text }, signal), sendsId: false };
}

/** Healthchecks pings waiting their turn, at most. */
const MAX_QUEUED_PINGS = 10;

/**
 * The dead-man's switch, one ping at a time and in order (a /start before its end). Pings are not written to the
 * outbox: a ping says "alive now", and one delivered late (after a restart) would tell the check something false.
 * `tries` sends one ping with a few tries (the notifier's direct sender). Never on a slot's path: setImmediate.
 */
export function pingChain(channel: Channel<Ping>, log: Logger, redact: (t: string) => string, tries: (send: () => Promise<Delivery>) => Promise<Delivery>, track: (p: Promise<unknown>) => void): (make: () => Notice) => void {
  const pings = spell(log, (why) => `Healthchecks pings fail: ${redact(why)}; the check will go down if this lasts`, 'Healthchecks pings delivered again');
  let chain: Promise<unknown> = Promise.resolve();
  let queued = 0;
  return (make) => {
    // A Healthchecks that hangs must not pile pings up in memory: past a few waiting, new ones are dropped (the
    // check then sees pings missing, which is what it is for).
    if (queued >= MAX_QUEUED_PINGS) {
      pings.failed(new Error(`${MAX_QUEUED_PINGS} pings already waiting; dropping one`));
      return;
    }
    queued++;
    chain = chain.then(
      () =>
        new Promise<void>((resolve) =>
          setImmediate(async () => {
            const ping = channel.render(make()); // built here, never in the turn of a slot's request
            const r = await tries(() => channel.send(ping));
            queued--;
            if (r.ok) pings.ok();
            else pings.failed(new Error(r.error));
            resolve();
          }),
        ),
    );
    track(chain);
  };
}
