import { redactUrl } from '../log/redact.ts';
import { DatabaseOpenError, type DatabaseTarget } from '../store/port.ts';

/** Exit codes: 0 done (or stopped), 1 a runtime failure that may pass, 2 a usage or configuration error. */
export type ExitCode = 0 | 1 | 2;

/** Where the database came from, to name it in an error line: `DATABASE_URL`, `--db` or `--database-url`. */
export interface DatabaseSetting {
  name: string;
  target: DatabaseTarget;
}

/**
 * The one mapping of a database that could not be opened to an exit code: a server that does not answer may answer
 * later (1); anything else (missing file, not writable, not ours, a failed migration) is the configuration (2).
 * A database that exists but cannot be used is said with the setting that named it and its value (password hidden).
 * Other errors are bugs and are thrown on.
 */
export function databaseExit(err: unknown, say: (line: string) => void, setting: DatabaseSetting): ExitCode {
  if (!(err instanceof DatabaseOpenError)) throw err;
  const value = setting.target.kind === 'sqlite' ? setting.target.path : redactUrl(setting.target.url);
  say(err.kind === 'not_writable' || err.kind === 'not_database' ? `${setting.name}=${JSON.stringify(value)}: ${err.message}` : err.message);
  return err.kind === 'unreachable' ? 1 : 2;
}
