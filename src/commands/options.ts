import { UsageError } from '../cli-args.ts';
import { parseCronPattern, type CronPattern } from '../cron-pattern.ts';
import { DURATION_EXPECTED, TIME_EXPECTED, parseDuration, parseInstant } from '../time-spec.ts';

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
