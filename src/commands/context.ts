import type { Config } from '../config.ts';

/** What a report or upkeep command gets from `main`: its options, the configuration and the process edges. */
export interface CommandContext {
  config: Config;
  /** Option values as typed (`--limit 5` → `{ limit: '5' }`); validated by each command. */
  opts: Record<string, string>;
  /** Boolean flags as cac parsed them, camel-cased (`--json` → `json`, `--dry-run` → `dryRun`). */
  flags: Record<string, unknown>;
  out: (text: string) => void;
  err: (text: string) => void;
  /** Colour the output (a TTY without NO_COLOR). */
  colors: boolean;
  now: number;
  /** This machine's host name (healthcheck prefers this host's agent). */
  host: string;
}
