import type { Kysely } from 'kysely';
import type { Schema } from './schema.ts';

/** What an agent records about itself when it starts. */
export interface AgentRecord {
  owner: string;
  host: string;
  pid: number;
  version: string;
  cronPattern: string;
  symbols: readonly string[];
  startedAt: number;
}

/** The agent's own row in `agents`: created at start, its heartbeat refreshed while it runs, closed by a clean stop. */
export interface AgentRegistration {
  readonly id: number;
  heartbeat(at: number): Promise<void>;
  markStopped(at: number): Promise<void>;
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
      symbols: a.symbols.join(','),
      started_at: a.startedAt,
      heartbeat_at: a.startedAt,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  const id = row.id;
  return {
    id,
    async heartbeat(at) {
      await db.updateTable('agents').set({ heartbeat_at: at }).where('id', '=', id).execute();
    },
    async markStopped(at) {
      await db.updateTable('agents').set({ heartbeat_at: at, stopped_at: at }).where('id', '=', id).execute();
    },
  };
}
