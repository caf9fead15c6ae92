import { formatProblem, parseConfig, type Config } from '../config.ts';
import type { Io } from './context.ts';

/**
 * Environment plus `run` flags → Config, or exit 2 with one line per invalid setting. `shownAs` names an override
 * by the option it came from (`DATABASE_URL` → `--db`), so the line names what the user typed.
 */
export function configFrom(io: Io, flags: Record<string, string>, overrides: Record<string, string> = {}, shownAs: Record<string, string> = {}): Config | 2 {
  const parsed = parseConfig({ ...io.env, ...overrides }, flags);
  if ('problems' in parsed) {
    for (const p of parsed.problems) io.err(`pmf-scheduler: ${formatProblem({ ...p, setting: shownAs[p.setting] ?? p.setting })}`);
    return 2;
  }
  return parsed.config;
}

/** The configuration of a command that takes `--db`: the environment's, DATABASE_URL replaced by the option. */
export function configWithDb(io: Io, opts: Record<string, string>): Config | 2 {
  return opts.db !== undefined ? configFrom(io, {}, { DATABASE_URL: opts.db }, { DATABASE_URL: '--db' }) : configFrom(io, {});
}
