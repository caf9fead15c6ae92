/** `--name N` or `--name=N` from argv as a positive integer, else `fallback`; a bad value stops the benchmark. */
export function intFlag(argv: readonly string[], name: string, fallback: number): number {
  const raw = flag(argv, name);
  if (raw === undefined) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) {
    process.stderr.write(`Invalid --${name}=${JSON.stringify(raw)}: expected a positive integer\n`);
    process.exit(2);
  }
  return Number(raw);
}

/** `--name value` or `--name=value` from argv. */
export function flag(argv: readonly string[], name: string): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === `--${name}`) return argv[i + 1];
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return undefined;
}

/** A comma-separated `--name a,b` list, else `fallback`. */
export function listFlag(argv: readonly string[], name: string, fallback: readonly string[]): string[] {
  const raw = flag(argv, name);
  return raw === undefined ? [...fallback] : raw.split(',').map((s) => s.trim()).filter(Boolean);
}
