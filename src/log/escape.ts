// C0 controls (newline, carriage return, ESC, BEL …), DEL, C1 controls (a lone 0x9b is a CSI on some terminals), the
// Unicode line and paragraph separators, and the format characters that change what a line looks like without being
// seen: zero-width and directional marks (U+200B–U+200F), bidi embeddings and overrides (U+202A–U+202E), the word
// joiner and invisible operators (U+2060–U+2064), bidi isolates (U+2066–U+2069), deprecated format controls
// (U+206A–U+206F), the byte order mark / zero-width no-break space (U+FEFF), the soft hyphen (U+00AD), the Arabic
// letter mark (U+061C) and interlinear annotations (U+FFF9–U+FFFB): whatever a terminal or a log reader could take for
// a command or the end of a line, or that shows `approved ‮gnissecorp‬` for `approved processing`.
const UNSAFE = '\\u0000-\\u001f\\u007f-\\u009f\\u00ad\\u061c\\u200b-\\u200f\\u2028-\\u202e\\u2060-\\u206f\\ufeff\\ufff9-\\ufffb';
const CONTROL = new RegExp(`[${UNSAFE}]`, 'g');
// The same, less what JSON.stringify already escapes (U+0000–U+001F): what is left inside a JSON text's strings.
const CONTROL_IN_JSON = new RegExp(`[${UNSAFE.replace('\\u0000-\\u001f', '')}]`, 'g');

/** Finds the first character escapeControl would escape (not global: for a test or a refusal). */
export const OUTSIDE_TEXT_UNSAFE = new RegExp(`[${UNSAFE}]`);

const NAMED: Record<string, string> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };
const escapeOne = (ch: string): string => NAMED[ch] ?? `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`;

/**
 * Text from outside (Diego, a proxy, the database) made safe to show on a terminal: every control and format
 * character becomes a visible escape (`\u001b`, `\n`, `\u202e`), so it can neither drive the terminal, start a line
 * of its own, nor turn text around. Display only: what is stored keeps the bytes as they came.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL, escapeOne);
}

/**
 * A JSON text (from JSON.stringify) with the characters JSON leaves raw (DEL, C1, U+2028/9, format characters)
 * escaped as `\uXXXX` too: still the same JSON value, and safe on a terminal. Those characters can only occur inside
 * strings.
 */
export function escapeJson(json: string): string {
  return json.replace(CONTROL_IN_JSON, escapeOne);
}

/** A rendered multi-line text (its lines ours, its fields from outside): each line escaped, the line breaks kept. */
export const escapeLines = (text: string): string => text.split('\n').map(escapeControl).join('\n');
