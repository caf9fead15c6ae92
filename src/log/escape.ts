// C0 controls (newline, carriage return, ESC, BEL …), DEL, C1 controls (a lone 0x9b is a CSI on some terminals) and
// the Unicode line and paragraph separators: whatever a terminal or a log reader could take for a command or for the
// end of a line.
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
// The same, less what JSON.stringify already escapes (U+0000–U+001F): what is left inside a JSON text's strings.
const CONTROL_IN_JSON = /[\u007f-\u009f\u2028\u2029]/g;

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const escapeOne = (ch: string): string => NAMED[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Text from outside (Diego, a proxy, the database) made safe to show on a terminal: every control character becomes
 * a visible escape (`\u001b`, `\n`), so it can neither drive the terminal nor start a line of its own. Display only:
 * what is stored keeps the bytes as they came.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, escapeOne);
}

/**
 * A JSON text (from JSON.stringify) with the controls JSON leaves raw (DEL, C1, U+2028/9) escaped as `\uXXXX` too:
 * still the same JSON value, and safe on a terminal. Those characters can only occur inside strings.
 */
export function escapeJson(json: string): string {
  return json.replace(CONTROL_IN_JSON, escapeOne);
}
