import type { Kysely } from 'kysely';
import type { Schema } from '../schema.ts';
import { symbolsColumn } from '../../records.ts';

/** What an agent records about itself when it starts. */
export interface AgentRecord {
  owner: string;
  host: string;
  pid: number;
  version: string;
  cronPattern: string;
  symbols: readonly string[];
  startedAt: number;
  /** Set once the readiness wait is over (at once without one); unset while the agent waits for Diego. */
  readyAt?: number;
  /** Why it will not fire though alive (`disabled`: ENABLE_SCHEDULER=false); absent: it fires once ready. */
  notFiring?: string | undefined;
}

/** The agent's own row in `agents`: created at start, its heartbeat refreshed while it runs, closed by a clean stop. */
export interface AgentRegistration {
  readonly id: number;
  /** Refreshes the heartbeat; `readyAt` records the end of the readiness wait with it. */
  heartbeat(at: number, readyAt?: number): Promise<void>;
  /** The other agents on this database whose heartbeat is newer than `since` and that have not stopped: their owners. */
  othersAlive(since: number): Promise<{ owner: string; host: string; pid: number }[]>;
  markStopped(at: number): Promise<void>;
  /** Records the end of the readiness wait alone (the heartbeat keeps its own pace). */
  markReady(at: number): Promise<void>;
  /** The last clock check, for `stats` and `status`. */
  clockChecked(at: number, offsetMs: number, rttMs: number): Promise<void>;
  /** The exchange's clock as last read (EXCHANGE_TIME_URL; `offsetMs` undefined: only the fire clock changed), for `status` and `next`. */
  exchangeClock(e: { at?: number; offsetMs?: number; rttMs?: number; fireClock: 'local' | 'exchange' | 'fallback' }): Promise<void>;
  /** Why it does not fire now (its clock), or null once it fires again: what `status` shows and `trigger` checks. */
  notFiring(why: string | null): Promise<void>;
  /** The clock went back: nothing fires before `until` (undefined: firing again), for `healthcheck` and `status`. */
  holdFiring(hold: FiringHold | undefined): Promise<void>;
}

/** Nothing fires before `until`: the wall clock went `backMs` behind the last slot fired. */
export interface FiringHold {
  until: number;
  backMs: number;
}

/** Inserts the agent's row (its first heartbeat is its start time). */
export async function registerAgent(db: Kysely<Schema>, a: AgentRecord): Promise<AgentRegistration> {
  const row = await db
    .insertInto('agents')
    .values({
      owner: a.owner,
      host: a.host,
      pid: a.pid,
      version: a.version,
      cron_pattern: a.cronPattern,
      symbols: symbolsColumn(a.symbols),
      started_at: a.startedAt,
      heartbeat_at: a.startedAt,
      ready_at: a.readyAt ?? null,
      not_firing: a.notFiring ?? null,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const id = row.id;
  return {
    id,
    async heartbeat(at, readyAt) {
      await db.updateTable('agents').set(readyAt === undefined ? { heartbeat_at: at } : { heartbeat_at: at, ready_at: readyAt }).where('id', '=', id).execute();
    },
    async othersAlive(since) {
      return db.selectFrom('agents').select(['owner', 'host', 'pid']).where('id', '!=', id).where('stopped_at', 'is', null).where('heartbeat_at', '>=', since).execute();
    },
    async markStopped(at) {
      await db.updateTable('agents').set({ heartbeat_at: at, stopped_at: at }).where('id', '=', id).execute();
    },
    async markReady(at) {
      await db.updateTable('agents').set({ ready_at: at }).where('id', '=', id).execute();
    },
    async notFiring(why) {
      await db.updateTable('agents').set({ not_firing: a.notFiring ?? why }).where('id', '=', id).execute();
    },
    async clockChecked(at, offsetMs, rttMs) {
      await db.updateTable('agents').set({ clock_offset_ms: offsetMs, clock_rtt_ms: rttMs, clock_checked_at: at }).where('id', '=', id).execute();
    },
    async exchangeClock(e) {
      const reading = e.offsetMs === undefined ? {} : { exchange_offset_ms: e.offsetMs, exchange_rtt_ms: e.rttMs ?? null, exchange_checked_at: e.at ?? null };
      await db.updateTable('agents').set({ ...reading, fire_clock: e.fireClock }).where('id', '=', id).execute();
    },
    async holdFiring(hold) {
      await db.updateTable('agents').set({ held_until: hold?.until ?? null, held_back_ms: hold?.backMs ?? null }).where('id', '=', id).execute();
    },
  };
}
