import { CYCLE_STATUSES } from '../records.ts';
import type { StatsReport } from '../store/history/stats/stats-model.ts';

/**
 * The summary's figures as log fields, each always of one type (a number, or an ISO time for `lastSuccess`): a field
 * with no value yet is left out rather than null, so typed log stores (Loki, Elasticsearch) map it once.
 */
export function summaryFields(label: string, report: StatsReport): Record<string, string | number> {
  const s = report.total;
  const fields: Record<string, string | number | undefined> = {
    window: label,
    cycles: s.cycles,
    ...Object.fromEntries(CYCLE_STATUSES.map((k) => [k, s.byStatus[k]])),
    successRate: s.successRate ?? undefined,
    attemptsPerCycle: s.attemptsPerCycle ?? undefined,
    latencyP50Ms: s.latency?.p50,
    latencyP95Ms: s.latency?.p95,
    latencyMaxMs: s.latency?.max,
    missedSlots: s.missedSlots ?? undefined,
    failureStreak: s.failureStreak,
    lastSuccess: s.lastSuccess === null ? undefined : new Date(s.lastSuccess.at).toISOString(),
  };
  return Object.fromEntries(Object.entries(fields).filter((e): e is [string, string | number] => e[1] !== undefined));
}

/** One log line: `12 cycles (11 succeeded, 1 failed) · success 91.7% · 1.17 attempts/cycle · Diego p50 210 ms …`. */
export function formatSummary(label: string, report: StatsReport): string {
  const s = report.total;
  if (s.cycles === 0 && !s.missedSlots) return `${label}: no cycles`;
  const statuses = CYCLE_STATUSES.filter((k) => s.byStatus[k] > 0).map((k) => `${s.byStatus[k]} ${k}`).join(', ');
  const parts = [`${s.cycles} cycles${statuses ? ` (${statuses})` : ''}`];
  if (s.successRate !== null) parts.push(`success ${(s.successRate * 100).toFixed(1)}%`);
  if (s.attemptsPerCycle !== null) parts.push(`${s.attemptsPerCycle.toFixed(2)} attempts/cycle`);
  if (s.latency) parts.push(`Diego latency p50 ${s.latency.p50} ms, p95 ${s.latency.p95} ms, max ${s.latency.max} ms`);
  if (s.missedSlots) parts.push(`${s.missedSlots} missed slot(s)`);
  if (s.failureStreak > 0) parts.push(`${s.failureStreak} failed in a row`);
  parts.push(`last success ${s.lastSuccess === null ? 'never' : new Date(s.lastSuccess.at).toISOString()}`);
  return `${label}: ${parts.join(' · ')}`;
}
