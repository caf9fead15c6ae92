import type { Kysely, Transaction } from 'kysely';
import type { AgentIdentity, AttemptOutcome, CycleStatus, SkipReason, Trigger } from '../records.ts';
import type { Schema } from './schema.ts';
import type { Clock } from '../time/clock.ts';

/**
 * The store's port: what the layers above see of a database, whichever backend holds it. Each backend (`sqlite/`,
 * `postgres/`) fills these interfaces in; nothing above the store asks which database it is.
 */

/** Where history lives: a SQLite file (one host), or a PostgreSQL server shared by replicas (high availability). */
export type DatabaseTarget =
  /** `cacheHome`: `$XDG_CACHE_HOME`, where the single binary extracts its SQLite addon (config reads it). */
  | { kind: 'sqlite'; path: string; cacheHome?: string }
  | { kind: 'postgres'; url: string };

/** Why a database could not be opened: a value with a kind, which `commands/` turns into an exit code and one line. */
export class DatabaseOpenError extends Error {
  constructor(
    /** `unreachable`: a database server that does not answer (yet); the agent waits for it, a report gives up. */
    readonly kind: 'missing' | 'not_writable' | 'not_database' | 'migration' | 'unreachable',
    message: string,
    cause?: unknown,
  ) {
    super(message, { cause });
    this.name = 'DatabaseOpenError';
  }
}

export interface OpenOptions {
  /** Readers (history, stats) never create, migrate or write. */
  readonly?: boolean;
  /**
   * The agent's connection: on SQLite its lock wait is short (AGENT_BUSY_TIMEOUT_MS), since behind the write queue a
   * write that cannot get the lock loses nothing; other connections wait the usual 5 s.
   */
  agent?: boolean;
  /** SQLite driver (default: the runtime's, better-sqlite3 on Node, node:sqlite on Deno); tests run each they load. */
  driver?: 'better-sqlite3' | 'node:sqlite';
  /** How long a SQLite statement waits for another connection's lock, overriding the above (tests). */
  busyTimeoutMs?: number;
  /** Time, read and waited on while opening (the wait for SQLite's migration lock); default the system clock. */
  clock?: Clock;
}

/**
 * What a backend guarantees and how it behaves, as capabilities the agent and the stores read: nothing outside
 * the backend modules asks which database it is.
 */
export interface BackendTraits {
  /**
   * True (PostgreSQL, shared by replicas): a slot fires only once its claim is written; when the database cannot
   * take the claim the slot is skipped, which is what makes "exactly once" hold across replicas during a fault.
   * False (SQLite, one host): availability wins; a claim that cannot be written waits in the write queue with the
   * other records and the slot fires anyway, unless another agent shares the file (the agent then asks for its
   * claims to succeed: agent/peers.ts).
   */
  readonly claimMustSucceed: boolean;
  /**
   * True: RUN_ON_START fires at most once per interval of the pattern among all agents on the database, and not at
   * all when one of them already ran the job in the current interval (replicas restarting one by one must not each
   * fire an extra cycle). False: every start fires its own startup cycle.
   */
  readonly startupOncePerInterval: boolean;
  /** Whether an error means the database cannot take writes for now (worth queueing and retrying) rather than a bug. */
  isUnavailable(err: unknown): boolean;
  /**
   * Whether a write that failed with this error may have been committed all the same: its connection died after the
   * statement left (PostgreSQL commits, then a fast shutdown cuts the session before it answers). Such a claim is
   * not fired, and is voided once the database answers (HistoryStore.voidClaim). Absent: a failed write was not
   * written (SQLite's writes run in the agent's own thread and end with their statement).
   */
  mayHaveCommitted?(err: unknown): boolean;
  /** Whether a query met a database without our tables (not ours, or on an older schema). */
  isMissingTable(err: unknown): boolean;
  /**
   * Run first in the transaction of a RUN_ON_START claim when `startupOncePerInterval`: waits for the claims under
   * way and holds off new ones until it commits, so its "has anyone run the job this interval?" check cannot miss a
   * concurrent claim (PostgreSQL: a table lock). Absent: the claim's single statement is atomic as is.
   */
  lockForStartupClaim?(tx: Transaction<Schema>): Promise<void>;
  /**
   * Turns waiting for another connection's lock on or off (off: fail at once), where the driver waits on the
   * agent's thread (SQLite): the write queue turns it off during an outage. Absent: nothing blocks the thread.
   */
  setLockWait?(wait: boolean): Promise<void>;
  /** What `prune` says about the space it freed. */
  readonly freedSpace: string;
  /**
   * The database server's own clock (epoch ms), where it has one apart from ours (PostgreSQL): replicas lease and
   * claim by their own clocks, so the clock check measures against it too. Absent: the same host's clock (SQLite).
   */
  serverTime?(db: Kysely<Schema>): Promise<number>;
  /**
   * SQLite (the agent's connection): whether the path still names the file opened, and what was done when it does
   * not (recreated, or writing refused); undefined when all is well or was already reported. Absent: nothing to check.
   */
  checkFile?(): Promise<FileCheck | undefined>;
  /**
   * Where the write queue keeps, on disk, what it holds during an outage (one side file per process, `<base>-<pid>`;
   * SQLite: beside the database). Absent (PostgreSQL: the agent may have no disk of its own): memory only.
   */
  readonly sideFileBase?: string;
}

/** A storage fault found by `checkFile`, as the line the agent logs. */
export interface FileCheck {
  fault: string;
}

/** What a feed of control changes tells its listener. */
export interface ChangeEvents {
  /** A control change committed (or may have: the feed just connected). */
  changed(): void;
  /** The feed listens (at first, and after each reconnect). */
  up(): void;
  /** The feed was lost, for this reason; it reconnects by itself. */
  down(err: unknown): void;
}

/** A feed of control changes, open until `close`. */
export interface ChangeFeed {
  /** Whether changes are pushed now; while false only polls see them. */
  readonly live: boolean;
  close(): Promise<void>;
}

/** An open history database. */
export interface Database {
  /** The typed query builder: the store's modules and the reports' queries run on it. */
  readonly db: Kysely<Schema>;
  /** The file path, or the server URL with its password hidden: what logs and messages show. */
  readonly location: string;
  readonly traits: BackendTraits;
  /**
   * Control changes pushed as they commit, where the backend can push (PostgreSQL: LISTEN/NOTIFY on a connection of
   * its own). Absent (SQLite): the agents poll the version row alone.
   */
  controlChanges?(events: ChangeEvents, clock: Clock): ChangeFeed;
  close(): Promise<void>;
  /** A writer's open: the migrations it applied (none: the schema was current), what `migrate` reports. */
  readonly migrated?: readonly string[];
}

export interface NewCycle {
  symbol: string;
  timeframe: string;
  trigger: Trigger;
  /**
   * The slot. For a `startup` cycle, on a backend whose RUN_ON_START fires once per interval, the newest slot at or
   * before the start (every replica computes the same one), else the start time.
   */
  scheduledAt: number;
  deadlineAt: number;
  startedAt: number;
  idempotencyKey: string;
  owner: string;
  /** Why execution is off for this cycle (a live `pause --execution`); absent: as configured. */
  executionOff?: string;
}

/** What a claim's own statement read of the control tables: the pauses in force at the cycle's start (claims.ts). */
export interface ClaimAnswer {
  id: number;
  /** A pause of cycles held: the row was written `skipped` (reason `paused`) and the slot must not fire; its note. */
  paused?: string;
  /** Execution was off (a pause of execution held, or the agent's copy said so): the note the row records. */
  executionOff?: string;
}

/** What voidClaim did: closed the claim's own row, took the slot with a `skipped` row, or found it another's. */
export type VoidedClaim = 'closed' | 'held' | 'taken';

export interface CycleEnd {
  finishedAt: number;
  status: Exclude<CycleStatus, 'running'>;
  attempts: number;
  reason?: string;
  error?: string;
  httpStatus?: number;
  summary?: string;
  executed: boolean;
  /** Diego's answer said the order it tried failed. */
  executionFailed?: boolean;
  /** Why an attempt left analysis-only when the claim had execution on (a kill switch between attempts); kept. */
  executionOff?: string;
}

export interface NewAttempt {
  cycleId: number;
  number: number;
  requestId: string;
  startedAt: number;
}

export interface AttemptEnd {
  finishedAt: number;
  /** When the request left (the clock right after the request was handed to the client); absent if it never left. */
  sentAt?: number;
  durationMs: number;
  outcome: AttemptOutcome;
  httpStatus?: number;
  error?: string;
  excerpt?: string;
}

/** The writes an agent makes; one narrow port so the write queue and every backend fit behind it. */
export interface HistoryStore {
  /**
   * Inserts the cycle row; undefined when another agent already holds the slot (or, on a database shared by
   * replicas, when a startup cycle finds the job already ran in the current interval, or a scheduled one finds its
   * slot taken by a startup cycle). Throws when the database cannot take it: the caller must then not fire.
   */
  claimCycle(c: NewCycle): Promise<number | undefined>;
  /**
   * What the database said of the pauses when it wrote claim `id`, in the claim's own statement (issue 22): read
   * once, right after the claim. Undefined for a claim the write queue answered with a provisional id.
   */
  claimAnswer(id: number): Omit<ClaimAnswer, 'id'> | undefined;
  /** Records a slot that was not run (e.g. overlap) as a finished `skipped` cycle; false when the slot was taken. */
  recordSkipped(c: NewCycle, reason: SkipReason, error: string): Promise<boolean>;
  /**
   * Settles a claim whose outcome is unknown (its connection died mid-statement) and which was therefore not fired:
   * its row, if it was written, ends `skipped` with the reason `unclaimed`; if it was not, such a row takes the slot,
   * so the claim cannot land later (a statement still on its way). In one transaction; `error` says why.
   */
  voidClaim(c: NewCycle, error: string): Promise<VoidedClaim>;
  finishCycle(id: number, end: CycleEnd): Promise<void>;
  startAttempt(a: NewAttempt): Promise<number>;
  finishAttempt(id: number, end: AttemptEnd): Promise<void>;
  /** Marks cycles left `running` by dead agents `interrupted` (and their open attempts `aborted`); returns the count. */
  recoverInterrupted(now: number, self: AgentIdentity, isAlive: (pid: number) => boolean): Promise<number>;
}
