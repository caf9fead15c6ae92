import pc from 'picocolors';
import { escapeControl } from '../log/escape.ts';
import type { CycleStatus } from '../records.ts';

/** picocolors' formatters; `colorsFor(false)` gives identity functions, so rendered text is testable either way. */
export type Colors = ReturnType<typeof pc.createColors>;

/** Colours on or off, injected into every renderer. */
export const colorsFor = (enabled: boolean): Colors => pc.createColors(enabled);

/** `2024-01-20 10:00:00` in UTC, as the logs (which are ISO UTC) and the tables show times. */
export function utcTime(ms: number, withMs = false): string {
  const iso = new Date(ms).toISOString();
  return `${iso.slice(0, 10)} ${iso.slice(11, withMs ? 23 : 19)}`;
}

/** ISO 8601 (UTC) for JSON, or null. */
export const isoOrNull = (ms: number | null | undefined): string | null => (ms === null || ms === undefined ? null : new Date(ms).toISOString());

/** A cycle status in its colour. */
export function paintStatus(c: Colors, status: CycleStatus, text: string = status): string {
  const paint = { succeeded: c.green, failed: c.red, skipped: c.yellow, interrupted: c.magenta, running: c.cyan }[status];
  return paint(text);
}

/** One table cell: the text that sets the column width, and how to colour it once padded. */
export interface Cell {
  text: string;
  paint?: (s: string) => string;
  right?: boolean;
}

/**
 * Lays out rows in columns two spaces apart; colours go on after padding, so escapes never skew the widths. Cells
 * hold database text, so their control characters are shown escaped (`\u001b`) before the widths are taken.
 */
export function table(header: readonly string[], cells: readonly (readonly Cell[])[], c: Colors): string[] {
  const rows = cells.map((r) => r.map((cell) => ({ ...cell, text: escapeControl(cell.text) })));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.text.length ?? 0)));
  const line = (cells: readonly Cell[]) =>
    cells
      .map((cell, i) => {
        const last = i === cells.length - 1;
        const padded = cell.right ? cell.text.padStart(widths[i]!) : last ? cell.text : cell.text.padEnd(widths[i]!);
        return cell.paint ? cell.paint(padded) : padded;
      })
      .join('  ');
  return [c.bold(line(header.map((h, i) => ({ text: h, right: rows[0]?.[i]?.right })))), ...rows.map(line)];
}

/** Cuts a text to `max` characters on one line, with an ellipsis when cut, its control characters shown escaped. */
export function clip(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ').trim();
  return escapeControl(one.length <= max ? one : `${one.slice(0, max - 1)}…`);
}

/** Database text on one line of a report: control characters shown escaped (`\u001b`, `\n`), never sent raw. */
export const shown = (text: string): string => escapeControl(text);

/** `97.4%`, or `-` when there is nothing to divide. */
export const percent = (r: number | null, digits = 1): string => (r === null ? '-' : `${(r * 100).toFixed(digits)}%`);
