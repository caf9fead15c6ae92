/**
 * The file a SQLite setting names: a plain path as it is, a `sqlite:` or `file:` URL without its scheme and with its
 * %-escapes decoded. A URL's `?query` or `#fragment` is refused rather than kept in the name (`file:///d/y.db?mode=ro`
 * created a file named `y.db?mode=ro`, issue 24 item 17): SQLite's URI parameters are not honoured, the agent writes.
 */
export function sqlitePath(raw: string): string | { expected: string } {
  const scheme = /^(sqlite|file):(\/\/)?/i.exec(raw);
  if (!scheme) return raw;
  const rest = raw.slice(scheme[0].length);
  const extra = /[?#]/.exec(rest);
  if (extra) return { expected: `a ${scheme[1]!.toLowerCase()}: URL without a query or fragment (${JSON.stringify(rest.slice(extra.index))} is not honoured: SQLite URI parameters such as mode=ro are not supported; a read-only database is one the agent refuses)` }
  try {
    return decodeURIComponent(rest);
  } catch {
    return { expected: 'a file: URL whose %-escapes are valid (%20 for a space)' };
  }
}
