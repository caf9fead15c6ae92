/**
 * The record's words: what every layer says about a cycle and its attempts, from the scheduler to the reports.
 * This module imports nothing of ours, so any layer may use it.
 */

/** Every cycle status, in the order reports list them. */
export const CYCLE_STATUSES = ['succeeded', 'failed', 'skipped', 'interrupted', 'running'] as const;
export type CycleStatus = (typeof CYCLE_STATUSES)[number];

/** Why a cycle ran: a cron slot, RUN_ON_START, or `pmf-scheduler trigger` (run now). */
export const TRIGGERS = ['schedule', 'startup', 'manual'] as const;
export type Trigger = (typeof TRIGGERS)[number];

/** How one HTTP attempt ended, in the order reports and metrics list them. */
export const ATTEMPT_OUTCOMES = ['ok', 'http_error', 'timeout', 'network_error', 'invalid_response', 'rejected', 'aborted'] as const;
export type AttemptOutcome = (typeof ATTEMPT_OUTCOMES)[number];

/** Who runs a cycle: the process (`host:pid`), and the replica id it goes by when REPLICA_ID is set. */
export interface AgentIdentity {
  host: string;
  pid: number;
  replicaId?: string;
}

/** The agent's name in `cycles.owner` and `agents.owner`: REPLICA_ID, else `host:pid`. */
export const ownerOf = (id: AgentIdentity): string => id.replicaId ?? `${id.host}:${id.pid}`;

/**
 * How logs name a cycle or attempt: `#42`, or `#q3` while its insert waits in the write queue (the database being
 * unavailable); ids below 0 are such provisional ids, and the queue logs the real one when it writes the row.
 */
export const recordLabel = (id: number): string => (id > 0 ? `#${id}` : `#q${-id}`);

/**
 * The one list of HTTP statuses worth sending again, for Diego and for notification channels alike: server errors,
 * a timeout (408), too early (425), too many (429).
 */
export const isRetryableStatus = (status: number): boolean => status >= 500 || status === 408 || status === 425 || status === 429;

/** Parses a Retry-After header (delta-seconds or HTTP-date) into milliseconds from `now`. */
export function parseRetryAfter(header: string | null | undefined, now: number): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}
