// TZ, checked with the settings (config.ts's parseConfig) though it has no flag and no Config field.
/**
 * TZ is the runtime's own variable (the pattern runs in local time), so it has no flag and no Config field; it is
 * checked here with the settings because a zone the runtime does not know silently means UTC. The runtime's ICU
 * matches names case-sensitively (`utc`, `europe/paris` give UTC) while `Intl` accepts any case, hence the
 * capitalised segments. glibc's leading `:` is allowed, as Node strips it; empty and unset are the system's zone.
 */
export function timeZoneProblem(tz: string | undefined): { setting: string; value: string; expected: string } | undefined {
  if (tz === undefined || tz === '') return undefined;
  const name = tz.startsWith(':') ? tz.slice(1) : tz;
  let known = name.split('/').every((part) => /^[A-Z]/.test(part));
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
  } catch {
    known = false;
  }
  return known ? undefined : { setting: 'TZ', value: tz, expected: 'an IANA time zone such as Europe/Paris or UTC (case-sensitive), or unset for the system zone' };
}
