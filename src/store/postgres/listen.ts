import pg from 'pg';
import { CONTROL_CHANNEL } from '../../../migrations/0009_control_notify.ts';
import { backoffDelay, RECONNECT_BACKOFF } from '../../time/backoff.ts';
import { settlesWithin, type Clock } from '../../time/clock.ts';
import type { ChangeEvents, ChangeFeed } from '../port.ts';

/** How long closing waits for the server to see the connection off, or for a connect under way. */
const END_WAIT_MS = 1000;

/**
 * Listens for control changes on one connection of its own (a pooled one cannot hold a LISTEN): each `NOTIFY
 * pmf_control` of this schema (migration 0009) is `changed()`. A lost connection is `down()` and is opened again
 * with the one reconnect backoff; once listening again it is `up()`, then `changed()` once, since a change committed
 * while nobody listened was announced to no one. A connection that dies without a word (a partition) is found by TCP
 * keepalive; until then the agent's polls, slower while the feed is live, still see every change.
 */
export function listenForControl(connection: pg.ClientConfig, schema: string, events: ChangeEvents, clock: Clock): ChangeFeed {
  const closing = new AbortController();
  const closed = new Promise<undefined>((resolve) => closing.signal.addEventListener('abort', () => resolve(undefined), { once: true }));
  let live = false;
  let current: pg.Client | undefined;
  const run = (async () => {
    for (let failures = 0; !closing.signal.aborted; ) {
      // Named with its schema, so `pg_stat_activity` tells which deployment each listener serves.
      const client = (current = new pg.Client({ ...connection, application_name: `pmf-scheduler listen ${schema}`.slice(0, 63) }));
      const lost = new Promise<unknown>((resolve) => {
        client.on('error', resolve);
        client.on('end', () => resolve(new Error('the server closed the connection')));
      });
      client.on('notification', (n) => {
        if (n.channel === CONTROL_CHANNEL && n.payload?.startsWith(`${schema} `)) events.changed();
      });
      let why: unknown;
      try {
        await client.connect();
        await client.query(`LISTEN ${CONTROL_CHANNEL}`);
        live = true;
        failures = 0;
        events.up();
        events.changed();
        why = await Promise.race([lost, closed]);
      } catch (err) {
        why = err;
      }
      live = false;
      // Ending says goodbye to the server and waits for it: on a partitioned connection that wait would hold the
      // agent's stop, so it is bounded.
      await settlesWithin(clock, END_WAIT_MS, client.end());
      if (closing.signal.aborted) return;
      events.down(why);
      await clock.sleep(backoffDelay(RECONNECT_BACKOFF, ++failures, clock.random), closing.signal);
    }
  })();
  return {
    get live() {
      return live;
    },
    async close() {
      closing.abort();
      void current?.end().catch(() => {});
      // A connect under way to a server that does not answer ends only at its timeout (pg's end() cannot cut it):
      // the stop does not wait for that, the attempt ends by itself and nothing follows it.
      await settlesWithin(clock, END_WAIT_MS, run);
    },
  };
}
