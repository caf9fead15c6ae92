// The userinfo ends at the LAST "@" before the path, query or fragment (WHATWG URL), so a password may itself hold
// "@": stopping at the first one would leak the rest. Quotes end it too, so a JSON log line keeps its structure.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s/?#:"']*):[^\s/?#"']*@/gi;
const BEARER = /(\bBearer\s+)[^\s"',;]+/gi;
// A Telegram bot token (`<bot id>:<secret>`) travels in the Bot API's path (`/bot<token>/sendMessage`), so an
// error that quotes the URL holds it: any such token is hidden, configured or not.
const BOT_TOKEN = /(\/bot|\b)\d{1,20}:[A-Za-z0-9_-]{20,100}\b/g;

/**
 * Hides passwords in URLs (`http://user:pass@host` → `http://user:***@host`), bearer tokens and Telegram bot tokens
 * (`/bot123:AAH…` → `/bot***`) anywhere in a text.
 */
export function redactUrl(text: string): string {
  return text.replace(URL_PASSWORD, '$1:***@').replace(BEARER, '$1***').replace(BOT_TOKEN, '$1***');
}

const SCHEME = /^(\s*[a-z][a-z0-9+.-]*:\/\/)(.*)$/is;

/**
 * A URL value cut around its password, by the URL's structure rather than a pattern over the password: in a URL that
 * parses, the userinfo ends at the last `@` of the authority (which ends at the first `/`, `?`, `#` or `\`); in one
 * that does not (an unencoded `#`, `/` or `?` in the password), at the last `@` of all, so whatever a password
 * holds is inside the cut. Undefined when the value holds no password.
 */
function splitPassword(value: string): { before: string; password: string; after: string } | undefined {
  const m = SCHEME.exec(value);
  if (!m) return undefined;
  const [, scheme, rest] = m as unknown as [string, string, string];
  let parses = true;
  try {
    new URL(value.trim());
  } catch {
    parses = false;
  }
  const end = parses ? rest.search(/[/?#\\]/) : -1;
  const at = (end < 0 ? rest : rest.slice(0, end)).lastIndexOf('@');
  const colon = at < 0 ? -1 : rest.slice(0, at).indexOf(':');
  if (colon < 0) return undefined;
  return { before: `${scheme}${rest.slice(0, colon + 1)}`, password: rest.slice(colon + 1, at), after: rest.slice(at) };
}

/**
 * Hides the password of one value known to be a URL (a setting, a database location), whatever characters it holds
 * (splitPassword), and a `password=` query parameter, which libpq takes too; the rest stays as it was typed.
 */
export function redactUrlValue(value: string): string {
  if (!SCHEME.test(value)) return redactUrl(value);
  const cut = splitPassword(value);
  const text = cut ? `${cut.before}***${cut.after}` : value;
  return text.replace(/([?&]password=)[^&#]*/gi, '$1***');
}

/** The password a URL value holds, as typed and as decoded (both can appear in a message); none when it has none. */
function passwordsOf(value: string): string[] {
  const typed = splitPassword(value)?.password;
  if (typed === undefined || typed === '') return [];
  let decoded = typed;
  try {
    decoded = decodeURIComponent(typed);
  } catch {
    // a stray %: the typed form is the one to hide
  }
  return [...new Set([typed, decoded])];
}

/**
 * A redactor for known secret values as well as URL passwords; every log line and stored error goes through one.
 * `urls` are the configured URLs (DATABASE_URL): each is replaced by its redacted form wherever it appears whole,
 * and its password wherever it appears as `:password@`, however short or odd (a space, `"`, `#`).
 */
export function createRedactor(secrets: readonly (string | undefined)[], urls: readonly string[] = []): (text: string) => string {
  const known = [...secrets, ...urls.flatMap(passwordsOf)].filter((s): s is string => typeof s === 'string' && s.length >= 8);
  const whole = urls.map((u) => [u, redactUrlValue(u)] as const).filter(([u, r]) => u !== r);
  const inUserinfo = urls.flatMap(passwordsOf).map((p) => `:${p}@`);
  return (text) => {
    let out = text;
    for (const [u, r] of whole) out = out.replaceAll(u, r);
    for (const p of inUserinfo) out = out.replaceAll(p, ':***@');
    out = redactUrl(out);
    for (const s of known) out = out.replaceAll(s, '***');
    return out;
  };
}

/**
 * A URL whose query may carry a key or a signature (an exchange's status endpoint): every query value hidden
 * (`?apiKey=***&signature=***`), and the password too.
 */
export function redactUrlQuery(value: string): string {
  return redactUrlValue(value).replace(/([?&][^=&#]*=)[^&#]*/g, '$1***');
}
