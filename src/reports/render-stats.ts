import { CYCLE_STATUSES, type CycleStatus } from '../records.ts';
import { formatDuration } from '../time/durations.ts';
import type { Percentiles, StatsBucket, StatsReport, SymbolStats } from '../store/history/stats/stats-model.ts';
import { clip, isoOrNull, paintStatus, percent, shown, utcTime, type Colors } from './render-text.ts';

const BARS = '▁▂▃▄▅▆▇█';

/**
 * Success rates drawn so the top, where a scalper's trouble starts, can be told apart without colour: only 100 % is
 * █, then ≥ 99 %, ≥ 95 %, ≥ 90 %, ≥ 75 %, ≥ 50 %, above 0, and 0 (▁). Linear, 93 % rounded to █ like 100 %.
 */
const SUCCESS_LEVELS: readonly [min: number, bar: string][] = [[1, '█'], [0.99, '▇'], [0.95, '▆'], [0.9, '▅'], [0.75, '▄'], [0.5, '▃'], [Number.MIN_VALUE, '▂'], [0, '▁']];

/** One success rate's bar (SUCCESS_LEVELS). Pure. */
export function successBar(rate: number): string {
  return SUCCESS_LEVELS.find(([min]) => rate >= min)?.[1] ?? '▁';
}

/** One character per value, scaled to `max` (▁ … █); null (no data) is a space. Pure. */
export function sparkline(values: readonly (number | null)[], max: number): string {
  return values
    .map((v) => {
      if (v === null) return ' ';
      if (max <= 0) return BARS[0];
      return BARS[Math.min(BARS.length - 1, Math.max(0, Math.round((v / max) * (BARS.length - 1))))];
    })
    .join('');
}

const percentilesJson = (p: Percentiles | null) => (p === null ? null : { count: p.count, p50: p.p50, p95: p.p95, p99: p.p99, max: p.max });

function symbolJson(s: SymbolStats) {
  return {
    cycles: s.cycles,
    byStatus: s.byStatus,
    successRate: s.successRate,
    attempts: s.attempts,
    attemptsPerCycle: s.attemptsPerCycle,
    retryRate: s.retryRate,
    latencyMs: percentilesJson(s.latency),
    latenessMs: percentilesJson(s.lateness),
    failuresByOutcome: s.failuresByOutcome,
    executions: s.executions,
    pausedSlots: s.pausedSlots,
    manualCycles: s.manualCycles,
    lastSuccess: s.lastSuccess && { cycleId: s.lastSuccess.cycleId, at: isoOrNull(s.lastSuccess.at) },
    lastFailure: s.lastFailure && { cycleId: s.lastFailure.cycleId, at: isoOrNull(s.lastFailure.at), error: s.lastFailure.error },
    failureStreak: s.failureStreak,
    expectedSlots: s.expectedSlots,
    missedSlots: s.missedSlots,
  };
}

/**
 * `stats --json` (field names documented in docs/commands.md; times ISO 8601 UTC, durations in ms). Grouped by replica
 * (`--by replica`), `replicas` takes the place of `symbols`.
 */
export function statsJson(r: StatsReport) {
  const groups = (g: Record<string, SymbolStats>) => Object.fromEntries(Object.entries(g).map(([k, s]) => [k, symbolJson(s)]));
  return {
    since: isoOrNull(r.since),
    until: isoOrNull(r.until),
    cron: r.cron,
    downtimeMs: r.downtimeMs,
    clockChecks: r.clockChecks.map((k) => ({ owner: k.owner, offsetMs: k.offsetMs, rttMs: k.rttMs, checkedAt: isoOrNull(k.at) })),
    total: symbolJson(r.total),
    ...(r.replicas ? { replicas: groups(r.replicas) } : { symbols: groups(r.symbols) }),
    buckets: r.buckets.map((b) => ({
      start: isoOrNull(b.start),
      end: isoOrNull(b.end),
      cycles: b.cycles,
      succeeded: b.succeeded,
      ran: b.ran,
      successRate: b.successRate,
      latencyP50Ms: b.latencyP50,
      latencyMaxMs: b.latencyMax,
      missedSlots: b.missedSlots,
    })),
  };
}

const ms = (v: number) => formatDuration(v);
const ago = (at: number, now: number) => `${utcTime(at)} UTC, ${formatDuration(now - at)} ago`;

function block(title: string, s: SymbolStats, now: number, c: Colors): string[] {
  const field = (name: string, value: string) => `  ${c.dim(name.padEnd(15))} ${value}`;
  const statuses = CYCLE_STATUSES.filter((k) => s.byStatus[k] > 0).map((k: CycleStatus) => paintStatus(c, k, `${s.byStatus[k]} ${k}`));
  const rate = s.successRate === null ? c.dim('-') : (s.successRate >= 0.99 ? c.green : s.successRate >= 0.9 ? c.yellow : c.red)(percent(s.successRate));
  const lines = [c.bold(title), field('cycles', `${s.cycles}${statuses.length ? ` (${statuses.join(', ')})` : ''}`)];
  lines.push(field('success', `${rate}   ${s.attemptsPerCycle === null ? '-' : s.attemptsPerCycle.toFixed(2)} attempts/cycle   ${percent(s.retryRate)} retried`));
  lines.push(field('Diego latency', s.latency ? `p50 ${ms(s.latency.p50)}  p95 ${ms(s.latency.p95)}  p99 ${ms(s.latency.p99)}  max ${ms(s.latency.max)}  ${c.dim(`(${s.latency.count} ok attempts)`)}` : c.dim('no successful attempt')));
  lines.push(field('fire lateness', s.lateness ? `p50 ${ms(s.lateness.p50)}  p99 ${ms(s.lateness.p99)}  max ${ms(s.lateness.max)}` : c.dim('no scheduled cycle')));
  const failures = Object.entries(s.failuresByOutcome).sort((a, b) => b[1] - a[1]);
  lines.push(field('failed attempts', failures.length ? failures.map(([o, n]) => `${o} ${n}`).join(', ') : c.dim('none')));
  lines.push(field('orders placed', String(s.executions)));
  if (s.pausedSlots > 0 || s.manualCycles > 0) lines.push(field('live control', `${s.pausedSlots} slot(s) skipped while paused, ${s.manualCycles} run-now cycle(s)`));
  lines.push(field('last success', s.lastSuccess ? `${ago(s.lastSuccess.at, now)} ${c.dim(`#${s.lastSuccess.cycleId}`)}` : c.yellow('never')));
  lines.push(
    field('last failure', s.lastFailure ? `${ago(s.lastFailure.at, now)} ${c.dim(`#${s.lastFailure.cycleId}`)}${s.lastFailure.error ? `: ${clip(s.lastFailure.error, 80)}` : ''}` : c.dim('never')),
  );
  if (s.failureStreak > 0) lines.push(field('failing', c.red(`${s.failureStreak} failed cycle(s) in a row`)));
  if (s.missedSlots !== null) {
    const missed = `${s.missedSlots} of ${s.expectedSlots} slot(s) had no cycle`;
    lines.push(field('missed slots', s.missedSlots > 0 ? c.red(missed) : missed));
  }
  return lines;
}

function picture(buckets: readonly StatsBucket[], c: Colors): string[] {
  if (buckets.length === 0) return [];
  const width = buckets[0]!.end - buckets[0]!.start;
  const successLine = buckets
    .map((b) => {
      if (b.successRate === null) return c.dim('·');
      const ch = successBar(b.successRate);
      return (b.successRate >= 0.99 ? c.green : b.successRate >= 0.9 ? c.yellow : c.red)(ch);
    })
    .join('');
  const latencies = buckets.map((b) => b.latencyP50);
  const maxLatency = Math.max(0, ...latencies.filter((v): v is number => v !== null));
  const lines = [
    c.bold(`Per ${formatDuration(width)} (oldest left)`),
    `  ${c.dim('success     ')} ${successLine}  ${c.dim('█ 100% ▇ 99 ▆ 95 ▅ 90 ▄ 75 ▃ 50 ▂ >0 ▁ 0')}`,
    `  ${c.dim('latency p50 ')} ${sparkline(latencies, maxLatency)}  ${c.dim(`█ = ${formatDuration(maxLatency)}`)}`,
  ];
  if (buckets.some((b) => b.missedSlots !== null)) {
    lines.push(`  ${c.dim('missed      ')} ${buckets.map((b) => (b.missedSlots ? c.red('█') : c.dim('·'))).join('')}  ${c.dim('█ = slots with no cycle')}`);
  }
  const first = utcTime(buckets[0]!.start).slice(5, 16);
  const last = utcTime(buckets.at(-1)!.end).slice(5, 16);
  lines.push(`  ${' '.repeat(12)} ${c.dim(`${first}${' '.repeat(Math.max(1, buckets.length - first.length - last.length))}${last}`)}`);
  return lines;
}

/**
 * The `stats` screen: one block per symbol, or per replica (`--by replica`), and one for all when several, then the
 * picture per time bucket. Pure.
 */
export function renderStats(r: StatsReport, label: string, now: number, c: Colors): string {
  const groups = Object.entries(r.replicas ?? r.symbols);
  const head = `${c.bold(`Stats ${shown(label)}`)} ${c.dim(`(${utcTime(r.since)} → ${utcTime(r.until ?? now)} UTC${r.cron ? `, pattern "${shown(r.cron)}"` : ''})`)}`;
  const down = r.downtimeMs ? [c.dim(`No agent ran for ${formatDuration(r.downtimeMs)} of it: its slots then are downtime, not missed slots`)] : [];
  const clock = r.clockChecks.map((k) => c.dim(`Clock of ${shown(k.owner)}: offset ${k.offsetMs >= 0 ? '+' : ''}${Math.round(k.offsetMs)} ms, round trip ${Math.round(k.rttMs)} ms (checked ${utcTime(k.at)} UTC)`));
  // Group names are symbols or replica names read from the database.
  const blocks = groups.map(([name, s]) => block(r.replicas ? `Replica ${shown(name)}` : shown(name), s, now, c));
  if (groups.length > 1 || (r.replicas && r.total.missedSlots !== null)) blocks.push(block(r.replicas ? 'All replicas' : 'All symbols', r.total, now, c));
  return [head, ...down, ...clock, '', ...blocks.flatMap((b) => [...b, '']), ...picture(r.buckets, c)].join('\n').trimEnd();
}
