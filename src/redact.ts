// The userinfo ends at the LAST "@" before the path, query or fragment (WHATWG URL), so a password may itself hold
// "@": stopping at the first one would leak the rest. Quotes end it too, so a JSON log line keeps its structure.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/?#:"']*):[^\s/?#"']*@/gi;
const BEARER = /(\bBearer\s+)[^\s"',;]+/gi;

/** Hides passwords in URLs (`http://user:pass@host` → `http://user:***@host`) and bearer tokens anywhere in a text. */
export function redactUrl(text: string): string {
  return text.replace(URL_PASSWORD, '$1:***@').replace(BEARER, '$1***');
}

/** A redactor for known secret values as well as URL passwords; every log line and stored error goes through one. */
export function createRedactor(secrets: readonly (string | undefined)[]): (text: string) => string {
  const known = secrets.filter((s): s is string => typeof s === 'string' && s.length >= 8);
  return (text) => {
    let out = redactUrl(text);
    for (const s of known) out = out.replaceAll(s, '***');
    return out;
  };
}
