import { parseCronExpression } from 'cron-schedule';
import type { CronPattern } from '../../../time/cron-pattern.ts';
import { timeframesOfText } from '../../../time/candles.ts';

const HOUR_MS = 3_600_000;
/** Below this many possible slots, walking the pattern slot by slot is cheaper than being clever. */
const WALK_LIMIT = 5_000;

/** Counts the slots of a pattern in `[from, to)` (epoch ms). */
export type SlotCounter = (from: number, to: number) => number;

/** The local time zone's offset from UTC at `t`, in ms (the pattern runs in local time, like the scheduler). */
const offsetAt = (t: number) => -new Date(t).getTimezoneOffset() * 60_000;
const mod = (a: number, n: number) => ((a % n) + n) % n;

/**
 * Builds a counter of the slots `pattern` fires in a window: what `stats` compares with the rows present to show
 * missed slots. Walking `next()` costs ~0.7 µs a slot, too much for 7 days at every second (604,800 slots), so:
 * within one local hour the slots are every (minute, second) pair the pattern allows, or none when the hour, day or
 * month does not match. A whole local hour that no DST change touches therefore holds exactly
 * `seconds × minutes` slots if it holds any, which one `next()` call decides; only the partial hours at the window's
 * ends and the hours around a DST change are walked slot by slot. Exact, and at most ~2 × 3,600 `next()` calls plus
 * one per hour of window.
 */
export function slotCounter(pattern: CronPattern): SlotCounter {
  const walk = (from: number, to: number) => {
    let n = 0;
    for (let slot = pattern.next(from - 1); slot < to; slot = pattern.next(slot)) n++;
    return n;
  };
  // Candle closes (`1m candles | 5m candles`) are no cron text, and at least a minute apart: walked, 1,440 a day at most.
  if (timeframesOfText(pattern.text) !== undefined) return (from, to) => (to <= from ? 0 : walk(from, to));
  const cron = parseCronExpression(pattern.text);
  const perHour = cron.seconds.length * cron.minutes.length;

  return (from, to) => {
    if (to <= from) return 0;
    if (perHour * (Math.ceil((to - from) / HOUR_MS) + 1) <= WALK_LIMIT) return walk(from, to);
    let count = 0;
    for (let at = from; at < to; ) {
      // Start of the local hour holding `at`: local hours begin at the zone's offset within the UTC hour (:30 in India).
      const start = at - mod(at - offsetAt(at), HOUR_MS);
      const end = Math.min(start + HOUR_MS, to);
      const whole = at === start && end === start + HOUR_MS;
      const steady = offsetAt(start - 1) === offsetAt(start) && offsetAt(start) === offsetAt(end - 1) && offsetAt(end - 1) === offsetAt(end);
      if (whole && steady) count += pattern.next(start - 1) < end ? perHour : 0;
      else count += walk(at, end);
      at = end;
    }
    return count;
  };
}

/** One agent's life as the `agents` table has it. */
export interface AgentLife {
  startedAt: number;
  heartbeatAt: number;
  stoppedAt: number | null;
}

/** An agent that stopped without saying so (a crash, a kill) is taken to have lived this long past its last beat. */
const AGENT_GONE_AFTER_MS = 60_000;

/** Spans `[start, end)` in epoch ms, sorted and not overlapping. */
export type Spans = readonly (readonly [number, number])[];

/**
 * When some agent was running, for missed slots: each agent from its start to its clean stop, or to its last
 * heartbeat plus AGENT_GONE_AFTER_MS. Before the first agent registered (a database older than the `agents` table)
 * nothing is known, so that time counts as running. Undefined when no agent ever registered. Pure.
 */
export function agentSpans(lives: readonly AgentLife[]): Spans | undefined {
  if (lives.length === 0) return undefined;
  const first = Math.min(...lives.map((l) => l.startedAt));
  const spans = [[-Infinity, first] as [number, number], ...lives.map((l) => [l.startedAt, l.stoppedAt ?? l.heartbeatAt + AGENT_GONE_AFTER_MS] as [number, number])];
  spans.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const [start, end] of spans) {
    const last = merged.at(-1);
    if (last && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  return merged;
}

/** How much of `[from, to)` the spans leave uncovered: the time no agent ran. Pure. */
export function uncovered(spans: Spans, from: number, to: number): number {
  let covered = 0;
  for (const [start, end] of spans) covered += Math.max(0, Math.min(end, to) - Math.max(start, from));
  return Math.max(0, to - from - covered);
}

/** A counter of only the slots inside the spans: a slot when no agent ran is downtime, not a missed slot. */
export function withinSpans(count: SlotCounter, spans: Spans | undefined): SlotCounter {
  if (spans === undefined) return count;
  return (from, to) => spans.reduce((n, [start, end]) => n + count(Math.max(from, start), Math.min(to, end)), 0);
}
