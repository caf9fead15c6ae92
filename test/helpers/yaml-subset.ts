/**
 * A YAML reader for the subset our own docker-compose.yml uses: block mappings and sequences by indentation,
 * single-line flow sequences, plain and quoted scalars, comments. Anything outside it (anchors, aliases, tags,
 * flow mappings, block scalars, several documents, tab indentation, duplicate keys) throws with the line number,
 * so the compose checks can never pass on a misreading. Plain `true`/`false`/`null` and numbers are typed, as in YAML.
 */
export type YamlValue = string | number | boolean | null | YamlValue[] | { [key: string]: YamlValue };

interface Line {
  indent: number;
  text: string;
  no: number;
}

/** Parses `text`; throws `YAML line N: …` on anything outside the subset. */
export function parseYamlSubset(text: string): YamlValue {
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    const fail = (what: string): never => {
      throw new Error(`YAML line ${i + 1}: ${what}`);
    };
    if (/^\s*\t/.test(raw)) fail('tab indentation');
    const content = stripComment(raw, fail).trimEnd();
    if (content.trim() === '') return;
    if (/^(---|\.\.\.)(\s|$)/.test(content)) fail('several documents');
    lines.push({ indent: content.length - content.trimStart().length, text: content.trim(), no: i + 1 });
  });
  let pos = 0;
  const fail = (line: Line | undefined, what: string): never => {
    throw new Error(`YAML line ${line?.no ?? 'end'}: ${what}`);
  };
  const isItem = (t: string) => t === '-' || t.startsWith('- ');
  const keyOf = (t: string) => /^([A-Za-z0-9_.\/-]+):(?:\s+(.*))?$/.exec(t);

  function node(indent: number): YamlValue {
    return isItem(lines[pos]!.text) ? sequence(indent) : mapping(indent);
  }

  function valueAfter(line: Line, rest: string | undefined): YamlValue {
    if (rest !== undefined && rest !== '') return scalarOrFlow(rest, line);
    const next = lines[pos];
    // YAML lets a sequence under a key sit at the key's own indentation.
    if (next && (next.indent > line.indent || (next.indent === line.indent && isItem(next.text) && !isItem(line.text)))) return node(next.indent);
    return null;
  }

  function mapping(indent: number): YamlValue {
    const out: { [key: string]: YamlValue } = {};
    while (pos < lines.length && lines[pos]!.indent === indent && !isItem(lines[pos]!.text)) {
      const line = lines[pos++]!;
      const m = keyOf(line.text) ?? fail(line, `expected "key: value", got ${JSON.stringify(line.text)}`);
      if (Object.hasOwn(out, m[1]!)) fail(line, `duplicate key ${m[1]}`);
      out[m[1]!] = valueAfter(line, m[2]);
    }
    if (pos < lines.length && lines[pos]!.indent > indent) fail(lines[pos], 'unexpected indentation');
    return out;
  }

  function sequence(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    while (pos < lines.length && lines[pos]!.indent === indent && isItem(lines[pos]!.text)) {
      const line = lines[pos]!;
      const item = line.text.slice(1).trimStart();
      if (item !== '' && keyOf(item)) {
        // "- key: value" opens a mapping whose keys line up with this first one.
        lines[pos] = { indent: indent + line.text.length - item.length, text: item, no: line.no };
        out.push(mapping(lines[pos]!.indent));
      } else {
        pos++;
        out.push(valueAfter(line, item));
      }
    }
    return out;
  }

  if (lines.length === 0) return null;
  const doc = node(lines[0]!.indent);
  if (pos < lines.length) fail(lines[pos], 'unexpected content');
  return doc;
}

/** Removes a `#` comment that starts the line or follows a space, outside quotes. */
function stripComment(raw: string, fail: (what: string) => never): string {
  let quote: string | undefined;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || /\s/.test(raw[i - 1]!))) {
      return raw.slice(0, i);
    }
  }
  if (quote) fail(`unclosed ${quote}`);
  return raw;
}

function scalarOrFlow(text: string, line: Line): YamlValue {
  if (!text.startsWith('[')) return scalar(text, line);
  if (!text.endsWith(']')) throw new Error(`YAML line ${line.no}: a flow sequence must close on its line`);
  const inner = text.slice(1, -1).trim();
  if (inner === '') return [];
  const items: string[] = [];
  let quote: string | undefined;
  let start = 0;
  for (let i = 0; i < inner.length; i++) {
    const c = inner[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") quote = c;
    else if (c === ',') {
      items.push(inner.slice(start, i).trim());
      start = i + 1;
    } else if ('[]{}'.includes(c)) throw new Error(`YAML line ${line.no}: nested flow collections are not supported`);
  }
  items.push(inner.slice(start).trim());
  return items.map((item) => scalar(item, line));
}

function scalar(text: string, line: Line): YamlValue {
  const fail = (what: string): never => {
    throw new Error(`YAML line ${line.no}: ${what}`);
  };
  if (text.startsWith('"')) {
    if (!/^"(?:[^"\\]|\\.)*"$/.test(text)) fail(`bad double-quoted scalar ${text}`);
    return JSON.parse(text) as string;
  }
  if (text.startsWith("'")) {
    if (!/^'(?:[^']|'')*'$/.test(text)) fail(`bad single-quoted scalar ${text}`);
    return text.slice(1, -1).replaceAll("''", "'");
  }
  if (/^[&*!|>%@`{]/.test(text)) fail(`unsupported YAML syntax ${JSON.stringify(text)}`);
  if (/:\s/.test(text) || text.endsWith(':')) fail(`a plain scalar cannot hold ": " (${JSON.stringify(text)})`);
  if (/^(true|false)$/.test(text)) return text === 'true';
  if (/^(null|~)$/.test(text)) return null;
  if (/^[-+]?\d+(\.\d+)?$/.test(text)) return Number(text);
  return text;
}
