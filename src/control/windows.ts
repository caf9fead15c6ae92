import { blackoutAt, describeBlackout, nextBlackouts, type Blackout, type BlackoutWindow } from '../time/blackout.ts';
import { describePause, plannedPauses, type ControlState, type Pause } from './state.ts';

/** The windows with execution (or cycles) off that `status` and `next` show: planned ahead, and EXECUTION_BLACKOUT's. */
export interface WindowsPicture {
  /** Windows planned ahead (`pause --from`), soonest first. */
  planned: Pause[];
  /** The blackout in force now, if any. */
  blackoutNow: Blackout | undefined;
  /** The next blackouts to begin. */
  blackoutNext: Blackout[];
}

/** The picture at `now` (pure); `state` undefined when no database was read (no planned windows known). */
export function windowsAt(state: ControlState | undefined, windows: readonly BlackoutWindow[], now: number, count = 3): WindowsPicture {
  return { planned: state ? plannedPauses(state, now) : [], blackoutNow: blackoutAt(windows, now), blackoutNext: nextBlackouts(windows, now, count) };
}

/** As lines of text (pure): none when there is nothing planned and no blackout configured. */
export function renderWindows(w: WindowsPicture): string[] {
  const lines: string[] = [];
  for (const p of w.planned) lines.push(`Planned: ${describePause(p)}`);
  if (w.blackoutNow) lines.push(`Blackout now: ${describeBlackout(w.blackoutNow)}`);
  for (const b of w.blackoutNext) lines.push(`Blackout next: ${describeBlackout(b)}`);
  return lines;
}

/** As JSON (`status --json`, `next --json`). */
export function windowsJson(w: WindowsPicture) {
  const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
  const blackout = (b: Blackout) => ({ window: b.window.text, from: iso(b.from), until: iso(b.until) });
  return {
    planned: w.planned.map((p) => ({ symbol: p.symbol, scope: p.scope, reason: p.reason, by: p.by, from: iso(p.since), until: iso(p.until) })),
    blackoutNow: w.blackoutNow ? blackout(w.blackoutNow) : null,
    blackoutNext: w.blackoutNext.map(blackout),
  };
}
