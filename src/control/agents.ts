import type { Kysely } from 'kysely';
import type { Schema } from '../store/schema.ts';
import { liveAgents, type LiveAgent } from '../store/history/agent-reads.ts';

/**
 * What an agent alive is doing, as its row says (pure): `firing`, `waiting` for Diego at start (no `ready_at` yet),
 * `disabled` (ENABLE_SCHEDULER=false), held by its `clock` (offset above CLOCK_SKEW_MAX_MS), or holding its fire
 * since the wall clock went back (`clockBack`: no slot fires twice).
 */
export type AgentActivity = 'firing' | 'waiting' | 'disabled' | 'clock' | 'clockBack';

export function activityOf(a: Pick<LiveAgent, 'readyAt' | 'notFiring' | 'hold'>): AgentActivity {
  if (a.notFiring === 'disabled') return 'disabled';
  if (a.notFiring !== null) return 'clock';
  if (a.hold !== null) return 'clockBack';
  return a.readyAt === null ? 'waiting' : 'firing';
}

/** Why an agent does not fire, in words. */
export function activityLine(a: Pick<LiveAgent, 'readyAt' | 'notFiring' | 'hold'>): string {
  switch (activityOf(a)) {
    case 'firing':
      return 'firing';
    case 'waiting':
      return 'waiting for Diego at start';
    case 'disabled':
      return 'disabled (ENABLE_SCHEDULER=false)';
    case 'clock':
      return `not firing because of the clock (${a.notFiring})`;
    case 'clockBack':
      return `not firing until ${new Date(a.hold!.until).toISOString()} (the clock went back ${Math.round(a.hold!.backMs / 1000)} s)`;
  }
}

/**
 * Whether a run-now request would be taken at `at`: undefined when an agent alive fires (and so takes requests), else
 * why not, one line. Read inside the request's transaction (apply.ts).
 */
export async function canTakeRunNow(db: Kysely<Schema>, at: number, maxAgeMs: number): Promise<string | undefined> {
  const agents = await liveAgents(db, at, maxAgeMs);
  if (agents.length === 0) return `No agent alive (no heartbeat in the last ${maxAgeMs / 1000} s): nothing would run it; not requested`;
  if (agents.some((a) => activityOf(a) === 'firing')) return undefined;
  return `No agent alive can take it (${agents.map((a) => `${a.owner}: ${activityLine(a)}`).join('; ')}); not requested`;
}
