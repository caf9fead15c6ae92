// Text that fits a terminal: `--help` and `stats` lines broken between words, never inside one, with the
// continuation under the line's own value column; no trailing spaces. Piped output (no width) is left whole, so
// `grep` sees each line as one.

const ANSI = /\x1b\[[0-9;]*m/g;

/** The columns a line takes on a terminal: colour escapes take none. Pure. */
export const visibleLength = (line: string): number => line.replace(ANSI, '').length;

/**
 * Where a broken line goes on: under the line's value column (the first text after a gap of two spaces or more that
 * follows its leading indent: `  --reason <text>    why …`, `  cycles          12 …`), else two past its indent.
 * Past half the width, the value column is no help: two past the indent. Pure.
 */
export function hangingIndent(line: string, width: number): number {
  const plain = line.replace(ANSI, '');
  const lead = plain.length - plain.trimStart().length;
  const gap = /\S {2,}(?=\S)/.exec(plain.slice(lead));
  const column = gap ? lead + gap.index + gap[0].length : lead + 2;
  return column <= width / 2 ? column : lead + 2;
}

/** One line broken between words to fit `width` columns; a single word longer than the room is left whole. Pure. */
export function fitLine(line: string, width: number): string[] {
  const trimmed = line.trimEnd();
  if (visibleLength(trimmed) <= width) return [trimmed];
  const indent = ' '.repeat(hangingIndent(trimmed, width));
  const lead = trimmed.length - trimmed.trimStart().length;
  // Words with the spaces before each: a kept gap keeps a table's alignment on the first line.
  const parts = trimmed.slice(lead).split(/( +)/);
  const lines: string[] = [];
  let current = trimmed.slice(0, lead) + parts[0]!;
  for (let i = 1; i < parts.length; i += 2) {
    const [gap, word] = [parts[i]!, parts[i + 1]!];
    if (visibleLength(current) + gap.length + visibleLength(word) <= width || current.trim() === '') current += gap + word;
    else {
      lines.push(current);
      current = indent + word;
    }
  }
  lines.push(current);
  return lines;
}

/** A text made to fit `width` columns (undefined: not a terminal, lines kept whole), trailing spaces gone. Pure. */
export function fitToWidth(text: string, width: number | undefined): string {
  const lines = text.split('\n');
  if (width === undefined || width <= 0) return lines.map((l) => l.trimEnd()).join('\n');
  return lines.flatMap((l) => fitLine(l, width)).join('\n');
}
