import { UsageError } from './args.ts';
import { parseCronPattern, type CronPattern } from '../time/cron-pattern.ts';
import { DURATION_EXPECTED, TIME_EXPECTED, parseDuration, parseInstant } from '../time/durations.ts';

/** `--name 2h` → ms; undefined when absent; a UsageError naming the option otherwise. */
export function durationOption(name: string, raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const ms = parseDuration(raw);
  if (ms === undefined || ms === 0) throw new UsageError(`Invalid --${name} ${JSON.stringify(raw)}: expected ${DURATION_EXPECTED}`);
  return ms;
}

/** `--name 2h` (that long before `now`) or an ISO time → epoch ms; undefined when absent. */
export function instantOption(name: string, raw: string | undefined, now: number): number | undefined {
  if (raw === undefined) return undefined;
  const at = parseInstant(raw, now);
  if (at === undefined) throw new UsageError(`Invalid --${name} ${JSON.stringify(raw)}: expected ${TIME_EXPECTED}`);
  return at;
}

/** One of a fixed list of words; undefined when absent. */
export function choiceOption<T extends string>(name: string, raw: string | undefined, choices: readonly T[]): T | undefined {
  if (raw === undefined) return undefined;
  if (!(choices as readonly string[]).includes(raw)) throw new UsageError(`Invalid --${name} ${JSON.stringify(raw)}: expected one of ${choices.join(', ')}`);
  return raw as T;
}

/** A non-empty text; undefined when absent. */
export function textOption(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  if (raw.trim() === '') throw new UsageError(`Invalid --${name} "": expected a value`);
  return raw.trim();
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A UUID in any case → its canonical lowercase form (as the agent writes them); undefined when absent. */
export function uuidOption(name: string, raw: string | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const text = String(raw).trim().toLowerCase();
  if (!UUID.test(text)) throw new UsageError(`Invalid --${name} ${JSON.stringify(String(raw))}: expected a UUID such as 0b6f7c1e-4a2d-4c8e-9f10-2a3b4c5d6e7f`);
  return text;
}

/** Rejects `since` at or after `until`, which could only ever match nothing. */
export function checkRange(since: number | undefined, until: number | undefined): void {
  if (since !== undefined && until !== undefined && since >= until) {
    throw new UsageError(`Invalid --since/--until: ${new Date(since).toISOString()} is not before ${new Date(until).toISOString()}`);
  }
}

/** `--cron PATTERN`; a bad one is exit 2 with the parser's reason. */
export function cronOption(raw: string | undefined): CronPattern | undefined {
  if (raw === undefined) return undefined;
  const parsed = parseCronPattern(raw);
  if ('error' in parsed) throw new UsageError(`Invalid --cron ${JSON.stringify(raw)}: expected a cron pattern with 5 or 6 fields (seconds first), such as "0 * * * * *" (${parsed.error})`);
  return parsed.pattern;
}
