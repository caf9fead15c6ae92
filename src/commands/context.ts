import type { Config } from '../config.ts';
import type { Clock } from '../time/clock.ts';

/** The process edges the commands use; `cli.ts` passes the real ones, tests their own. */
export interface Io {
  env: Record<string, string | undefined>;
  out: (text: string) => void;
  err: (text: string) => void;
  isTTY: boolean;
  /** The terminal's width in columns when stdout is one; tables fit it. */
  columns?: number;
  /** SIGINT/SIGTERM: the first asks for a graceful stop. */
  onSignal: (handler: (signal: string) => void) => void;
  pid: number;
  /** Time, read and waited on; default the system clock (tests may pass their own). */
  clock?: Clock;
}

/** What a report or upkeep command gets from `main`: its options, the configuration and the process edges. */
export interface CommandContext {
  config: Config;
  /** The positional arguments after the command's name (`alerts test` → `['test']`). */
  args: string[];
  /** Option values as typed (`--limit 5` → `{ limit: '5' }`); validated by each command. */
  opts: Record<string, string>;
  /** Boolean flags as cac parsed them, camel-cased (`--json` → `json`, `--dry-run` → `dryRun`). */
  flags: Record<string, unknown>;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Colour the output (config.ts `colorsWanted`). */
  colors: boolean;
  /** The terminal's width, for tables that must not wrap; undefined when the output is not a terminal. */
  width?: number;
  now: number;
  /** SIGINT/SIGTERM, for a command that runs until one (`history --follow`). */
  onSignal: (handler: (signal: string) => void) => void;
  /** What named the database, for error lines: `--db` or `DATABASE_URL`. */
  databaseSetting: string;
  /**
   * The clock port: read when a control change is made (opening the database, PostgreSQL, migrations, can take a
   * while after `now`, and the audit and a run-now request's expiry count from the change itself), and waited on
   * by the commands that poll (`trigger --wait`, `history --follow`).
   */
  clock: Clock;
  /** This machine's host name (healthcheck prefers this host's agent). */
  host: string;
  /** The OS user running the command: who a control action is by, unless `--by` says. */
  user: string;
}
