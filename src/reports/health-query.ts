import type { Kysely, Selectable } from 'kysely';
import type { AgentsTable, Schema } from '../store/schema.ts';
import { formatDuration } from '../time/durations.ts';
import { failureStreak } from '../store/history/cycle-lookups.ts';
import { newestAgent } from '../store/history/agent-reads.ts';

/** Default age past which a heartbeat is stale: the agent refreshes it every 10 s, so this is several missed beats. */
export const DEFAULT_MAX_HEARTBEAT_AGE_MS = 60_000;

/** Healthy or not, with the one line that says why. */
export type HealthVerdict = { healthy: true; reason: string } | { healthy: false; reason: string };

/** The agent `healthcheck` judges: this host's newest (a container checks its own agent), else the newest of all. */
export async function agentToJudge(db: Kysely<Schema>, host: string): Promise<Selectable<AgentsTable> | undefined> {
  return (await newestAgent(db, host)) ?? (await newestAgent(db));
}

/** The longest current run of failed cycles among the agent's symbols, with the symbol. */
export async function worstStreak(db: Kysely<Schema>, symbols: readonly string[]): Promise<{ symbol: string; streak: number } | undefined> {
  let worst: { symbol: string; streak: number } | undefined;
  for (const symbol of symbols) {
    const streak = await failureStreak(db, symbol, Number.MAX_SAFE_INTEGER);
    if (!worst || streak > worst.streak) worst = { symbol, streak };
  }
  return worst;
}

/**
 * "not firing until T (the clock went back N s)" while the agent's wall clock is behind the last slot it fired (no
 * slot fires twice, so it waits), else undefined (pure). A hold whose time has come is no hold: its fire clears it.
 */
export function firingHold(agent: Pick<Selectable<AgentsTable>, 'held_until' | 'held_back_ms'>, now: number): string | undefined {
  if (agent.held_until === null || Number(agent.held_until) < now) return undefined;
  return `not firing until ${new Date(Number(agent.held_until)).toISOString()} (the clock went back ${Math.round(Number(agent.held_back_ms ?? 0) / 1000)} s)`;
}

/** Healthy or not, and why, from the agent row and the current failure streak (pure). */
export function judgeHealth(
  agent: Selectable<AgentsTable> | undefined,
  now: number,
  maxAgeMs: number,
  streak?: { symbol: string; streak: number; limit: number },
  maxWaitMs?: number,
): HealthVerdict {
  const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;
  if (agent === undefined) return { healthy: false, reason: 'no agent has ever run on this database' };
  const who = `agent ${agent.owner} (${agent.version})`;
  if (agent.stopped_at !== null) return { healthy: false, reason: `${who} stopped at ${new Date(Number(agent.stopped_at)).toISOString()}` };
  const age = now - Number(agent.heartbeat_at);
  if (age > maxAgeMs) {
    return { healthy: false, reason: `${who}: heartbeat stale, last at ${new Date(Number(agent.heartbeat_at)).toISOString()}, ${seconds(age)} ago (limit ${seconds(maxAgeMs)}); the agent is hung or was killed` };
  }
  if (agent.ready_at === null) {
    // Alive, but firing nothing until Diego (and Miguel) answer /health: healthy by default, as WAIT_FOR_READY waits
    // forever; `--max-wait` bounds it.
    const waited = now - Number(agent.started_at);
    const since = `waiting for Diego since ${new Date(Number(agent.started_at)).toISOString()} (${formatDuration(waited)}), firing nothing until it answers /health`;
    if (maxWaitMs !== undefined && waited > maxWaitMs) return { healthy: false, reason: `${who}: ${since}; limit ${formatDuration(maxWaitMs)}` };
    return { healthy: true, reason: `${who}: ${since}; heartbeat ${seconds(Math.max(0, age))} ago` };
  }
  const hold = firingHold(agent, now);
  if (hold) return { healthy: false, reason: `${who}: ${hold}` };
  if (streak && streak.streak >= streak.limit) {
    return { healthy: false, reason: `${who}: ${streak.streak} consecutive failed cycles for ${streak.symbol} (limit ${streak.limit})` };
  }
  return { healthy: true, reason: `${who}: heartbeat ${seconds(Math.max(0, age))} ago` };
}
