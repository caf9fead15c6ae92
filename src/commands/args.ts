/**
 * The text of every `--name value` / `--name=value` option as typed. cac (through mri) turns anything that looks
 * numeric into a number (`0x10` → 16, `1e3` → 1000), so values are read here and validated by their parsers.
 * A flag followed by another flag, or last, is `true`.
 */
export function rawOptions(argv: readonly string[]): Record<string, string | true> {
  const out: Record<string, string | true> = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') break;
    if (!arg.startsWith('--')) continue;
    const eq = arg.indexOf('=');
    if (eq > 0) {
      out[arg.slice(2, eq)] = arg.slice(eq + 1);
      continue;
    }
    const next = argv[i + 1];
    if (next !== undefined && !next.startsWith('--')) {
      out[arg.slice(2)] = next;
      i++;
    } else out[arg.slice(2)] = true;
  }
  return out;
}

/**
 * `--since -1h` → `--since=-1h` for every option in `valued` (those declared with a `<value>`): cac reads a value
 * that starts with `-` as short flags (`-1h` is `-1 -h`, so help and exit 0; `--limit -1` an unknown `-1`). Joined,
 * the value reaches the option's own parser, which accepts it or names the option in its error.
 */
export function joinDashValues(argv: readonly string[], valued: ReadonlySet<string>): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const next = argv[i + 1];
    if (arg === '--') return [...out, ...argv.slice(i)];
    if (valued.has(arg) && next !== undefined && next.startsWith('-') && !next.startsWith('--')) {
      out.push(`${arg}=${next}`);
      i++;
    } else out.push(arg);
  }
  return out;
}

/** A repeated option (`--json --json`, `--limit 5 --limit 6`) is a usage error: cac would make it an array. */
export function checkRepeats(argv: readonly string[]): void {
  const seen = new Set<string>();
  for (const arg of argv) {
    if (arg === '--') return;
    if (!arg.startsWith('--')) continue;
    const name = arg.slice(2).split('=')[0]!;
    if (seen.has(name)) throw new UsageError(`Option --${name} is given more than once: give it once`);
    seen.add(name);
  }
}

/** Only the options that carry a value, for settings parsers. */
export function valueOptions(argv: readonly string[]): Record<string, string> {
  return Object.fromEntries(Object.entries(rawOptions(argv)).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** A usage error: exit 2 with one line. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parses an option's text as an integer in [min, max], or throws a UsageError naming it. */
export function intOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new UsageError(`Invalid --${name} ${JSON.stringify(raw)}: expected an integer from ${min} to ${max}`);
  return Number(raw);
}

/** Parses an option's text as a number in [min, max], or throws a UsageError naming it. */
export function numberOption(name: string, raw: string | undefined, fallback: number, min: number, max: number): number {
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`Invalid --${name} ${JSON.stringify(raw)}: expected a number from ${min} to ${max}`);
  return n;
}
