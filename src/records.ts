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

/**
 * Why a slot (or a run-now request) did not fire: the `reason` of a `skipped` cycle, a closed set. Each has its
 * line here and its place in every table keyed by it (metrics, the `missed` summary, `stats`), so a new reason is
 * one new entry the compiler leads through.
 */
export const SKIP_REASONS = {
  /** A pause (`pmf-scheduler pause`) held the slot. */
  paused: 'paused',
  /** The previous cycle of the symbol would still run after the slot (overlap policy: skip). */
  overlap: 'previous cycle still running',
  /** The clock's offset was above CLOCK_SKEW_MAX_MS. */
  clock_skew: 'clock offset above CLOCK_SKEW_MAX_MS',
  /** CLOCK_SKEW_MAX_MS is set and no clock check has answered yet: the clock fails closed. */
  clock_unchecked: 'clock not checked yet (CLOCK_SKEW_MAX_MS set)',
  /** Taken as the agent stopped, or prepared and the agent stopped before the slot came. */
  shutdown: 'the agent stopped',
  /** A later slot was already due when the agent woke (late wake-up or clock jump). */
  missed: 'passed over: a later slot was due',
  /** The wall clock went back a long way after the slot was prepared. */
  clock_back: 'passed over: the wall clock went back',
  /** The claim's outcome was unknown (its connection died mid-statement): not fired, its row voided. */
  unclaimed: "the claim's answer was lost",
  /** The send was late (a stall) and the database could not be asked again before it: not sent. */
  recheck_failed: 'late, and the database could not be re-checked before sending',
  /** The first request could not leave within MAX_LATENESS_MS of its slot (a late start, a stall, a slow claim). */
  late: 'too late to send: past MAX_LATENESS_MS after its slot',
} as const satisfies Record<string, string>;
export type SkipReason = keyof typeof SKIP_REASONS;
/** Whether a text read back from a row is one of the skip reasons. */
export const isSkipReason = (r: string | null | undefined): r is SkipReason => r != null && Object.hasOwn(SKIP_REASONS, r);

/** Parses a Retry-After header (delta-seconds or HTTP-date) into milliseconds from `now`. */
export function parseRetryAfter(header: string | null | undefined, now: number): number | undefined {
  if (!header) return undefined;
  const text = header.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/**
 * The target of a pause or a run-now request, held in its `symbol` column: `*` (every job), a symbol (its jobs of every
 * timeframe), or with `--timeframe` `BTC/USDT@5m` (one job) and `*@5m` (every symbol's 5m job). Kept in the one
 * column so the primary key (target, scope), the claim's one-statement read of the pauses and every older row stay
 * as they were; `@` cannot occur in a symbol (SYMBOLS: `BTC/USDT`) nor in a timeframe.
 */
export const targetOf = (symbol: string, timeframe: string | undefined): string => (timeframe === undefined ? symbol : `${symbol}@${timeframe}`);

/** A target's symbol ('*' for every one) and timeframe (undefined: every one). */
export function targetParts(target: string): { symbol: string; timeframe: string | undefined } {
  const at = target.indexOf('@');
  return at < 0 ? { symbol: target, timeframe: undefined } : { symbol: target.slice(0, at), timeframe: target.slice(at + 1) };
}

/**
 * The targets that hold the job `symbol` at `timeframe`, the most specific first (its own, its symbol's, its
 * timeframe's, every job's); without a timeframe, its symbol's and every job's. The claim asks the database the same.
 */
export const targetsOf = (symbol: string, timeframe?: string): string[] =>
  timeframe === undefined ? [symbol, '*'] : [targetOf(symbol, timeframe), symbol, targetOf('*', timeframe), '*'];

/**
 * A cycle's W3C trace id (https://www.w3.org/TR/trace-context/#trace-id): its Idempotency-Key, a random UUID, as 32
 * lowercase hex digits. One identifier per cycle, already stored and logged, so Diego's and Miguel's traces join the
 * cycle by either and no column repeats it. A key that is not a UUID (none the agent makes) is hashed (FNV-1a, twice
 * 64 bits) to the same shape, never all zeros. Pure.
 */
export function traceIdOf(idempotencyKey: string): string {
  const hex = idempotencyKey.replace(/-/g, '').toLowerCase();
  if (/^[0-9a-f]{32}$/.test(hex) && /[^0]/.test(hex)) return hex;
  const fnv = (seed: bigint) => {
    let h = seed;
    for (const ch of idempotencyKey) h = BigInt.asUintN(64, (h ^ BigInt(ch.codePointAt(0)!)) * 0x100000001b3n);
    return h.toString(16).padStart(16, '0');
  };
  const id = fnv(0xcbf29ce484222325n) + fnv(0x84222325cbf29ce4n);
  return /[^0]/.test(id) ? id : `${id.slice(0, 31)}1`;
}
