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

/**
 * The one list of HTTP statuses worth sending again, to Diego and to a notification channel alike: a timeout (408),
 * too early (425), too many (429); every server error (5xx) too, see {@link isRetryableStatus}.
 */
export const RETRYABLE_STATUSES: readonly number[] = [408, 425, 429];

/** Whether an answer with this HTTP status may be sent again: a server error, or one of RETRYABLE_STATUSES. */
export const isRetryableStatus = (status: number): boolean => status >= 500 || RETRYABLE_STATUSES.includes(status);

/** Who runs a cycle: the process (`host:pid`), and the replica id it goes by when REPLICA_ID is set. */
export interface AgentIdentity {
  host: string;
  pid: number;
  replicaId?: string;
}

/**
 * An agent's symbols as its `agents` row holds them: one text, comma-separated. The one way to write and read it
 * (an agent with no symbol reads back as none, not as one empty name).
 */
export const symbolsColumn = (symbols: readonly string[]): string => symbols.join(',');
export const symbolsOfColumn = (column: string): string[] => column.split(',').filter(Boolean);

/** The agent's name in `cycles.owner` and `agents.owner`: REPLICA_ID, else `host:pid`. */
export const ownerOf = (id: AgentIdentity): string => id.replicaId ?? `${id.host}:${id.pid}`;

/**
 * How logs name a cycle or attempt: `#42`, or `#q3` while its insert waits in the write queue (the database being
 * unavailable); ids below 0 are such provisional ids, and the queue logs the real one when it writes the row.
 */
export const recordLabel = (id: number): string => (id > 0 ? `#${id}` : `#q${-id}`);
