import type { Kysely, Selectable } from 'kysely';
import { symbolsOfColumn } from '../../records.ts';
import type { AgentsTable, Schema } from '../schema.ts';

// Every read of the `agents` table by the commands and reports: one newest-agent read (newest start, then newest
// id, so two agents started in the same millisecond give one answer), the agents alive, their symbols.

/** The symbols an agent row lists (stored comma-separated; an empty list is no symbol). */
export const agentSymbols = (row: Pick<Selectable<AgentsTable>, 'symbols'>): string[] => symbolsOfColumn(row.symbols);

/** The newest agent that ever ran on the database (on `host` when given), or undefined. */
export function newestAgent(db: Kysely<Schema>, host?: string): Promise<Selectable<AgentsTable> | undefined> {
  let q = db.selectFrom('agents').selectAll();
  if (host !== undefined) q = q.where('host', '=', host);
  return q.orderBy('started_at', 'desc').orderBy('id', 'desc').limit(1).executeTakeFirst();
}

/** An agent that is alive: not stopped, and its heartbeat younger than the limit. */
export interface LiveAgent {
  owner: string;
  host: string;
  pid: number;
  version: string;
  cronPattern: string;
  symbols: string[];
  startedAt: number;
  heartbeatAt: number;
  /** Its last clock check (NTP_SERVER), or null: none, or no NTP_SERVER. */
  clock: { offsetMs: number; rttMs: number; at: number } | null;
  /** The exchange's clock as it last read it (EXCHANGE_TIME_URL, migration 0016), and the clock its slots fire on; null: none. */
  exchange: { offsetMs: number; rttMs: number; at: number; fireClock: string } | null;
  /** The wall clock went back: it fires nothing before `until` (migration 0012_a_clock_hold); null: none. */
  hold: { until: number; backMs: number } | null;
  /** When its readiness wait ended; null while it waits for Diego. */
  readyAt: number | null;
  /** Why it does not fire (`disabled`, its clock's offset); null: it fires once ready (migration 0013_a). */
  notFiring: string | null;
}

/** The agents alive at `now` (heartbeat within `maxAgeMs`, no clean stop), newest first. */
export async function liveAgents(db: Kysely<Schema>, now: number, maxAgeMs: number): Promise<LiveAgent[]> {
  const rows = await db.selectFrom('agents').selectAll().where('stopped_at', 'is', null).where('heartbeat_at', '>=', now - maxAgeMs).orderBy('started_at', 'desc').orderBy('id', 'desc').execute();
  return rows.map((r) => ({
    owner: r.owner,
    host: r.host,
    pid: r.pid,
    version: r.version,
    cronPattern: r.cron_pattern,
    symbols: agentSymbols(r),
    startedAt: Number(r.started_at),
    heartbeatAt: Number(r.heartbeat_at),
    clock: r.clock_checked_at === null || r.clock_offset_ms === null ? null : { offsetMs: Number(r.clock_offset_ms), rttMs: Number(r.clock_rtt_ms ?? 0), at: Number(r.clock_checked_at) },
    exchange: r.exchange_checked_at == null || r.exchange_offset_ms == null ? null : { offsetMs: Number(r.exchange_offset_ms), rttMs: Number(r.exchange_rtt_ms ?? 0), at: Number(r.exchange_checked_at), fireClock: r.fire_clock ?? 'local' },
    hold: r.held_until === null || Number(r.held_until) < now ? null : { until: Number(r.held_until), backMs: Number(r.held_back_ms ?? 0) },
    readyAt: r.ready_at === null ? null : Number(r.ready_at),
    notFiring: r.not_firing ?? null,
  }));
}

/** The symbols of the newest agent that ever ran on the database (what a `--symbol` may name), or undefined. */
export async function newestAgentSymbols(db: Kysely<Schema>): Promise<string[] | undefined> {
  const row = await newestAgent(db);
  return row && agentSymbols(row);
}
