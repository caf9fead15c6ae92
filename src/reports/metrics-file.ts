import { rename, writeFile } from 'node:fs/promises';
import process from 'node:process';
import type { AttemptOutcome, CycleStatus } from '../store/schema.ts';
import type { AttemptView, CycleView } from './history-query.ts';

/** Upper bounds of the Diego latency histogram, in seconds (Diego answers in ~0.1–20 s). */
export const LATENCY_BUCKETS_S = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60] as const;

const ENDED: readonly Exclude<CycleStatus, 'running'>[] = ['succeeded', 'failed', 'skipped', 'interrupted'];
const OUTCOMES = Object.keys({
  ok: 0, http_error: 0, timeout: 0, network_error: 0, invalid_response: 0, rejected: 0, aborted: 0,
} satisfies Record<AttemptOutcome, 0>) as AttemptOutcome[];

/**
 * What the textfile exposes. Counters count from the agent's start (Prometheus treats the drop at a restart as a
 * counter reset), so keeping them costs one indexed read per cycle instead of counting the whole history.
 */
export interface MetricsState {
  startedAt: number;
  cycles: Record<Exclude<CycleStatus, 'running'>, number>;
  attempts: Record<AttemptOutcome, number>;
  lastSuccessAt: number | null;
  lastCycleDurationMs: number | null;
  /** Cumulative counts per bucket of LATENCY_BUCKETS_S, then the sum (s) and count of successful attempts. */
  latency: { buckets: number[]; sumS: number; count: number };
}

/** Zeroed metrics; `lastSuccessAt` comes from the history so the gauge survives restarts. */
export function emptyMetrics(startedAt: number, lastSuccessAt: number | null): MetricsState {
  return {
    startedAt,
    cycles: { succeeded: 0, failed: 0, skipped: 0, interrupted: 0 },
    attempts: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<AttemptOutcome, number>,
    lastSuccessAt,
    lastCycleDurationMs: null,
    latency: { buckets: LATENCY_BUCKETS_S.map(() => 0), sumS: 0, count: 0 },
  };
}

/** Adds one ended cycle and its attempts (pure: returns the new state). */
export function addCycle(s: MetricsState, cycle: CycleView, attempts: readonly AttemptView[]): MetricsState {
  const next: MetricsState = structuredClone(s);
  if (cycle.status !== 'running') next.cycles[cycle.status]++;
  if (cycle.status === 'succeeded') next.lastSuccessAt = cycle.finishedAt;
  if (cycle.durationMs !== null) next.lastCycleDurationMs = cycle.durationMs;
  for (const a of attempts) {
    if (a.outcome === null) continue;
    next.attempts[a.outcome]++;
    if (a.outcome !== 'ok' || a.durationMs === null) continue;
    const seconds = a.durationMs / 1000;
    LATENCY_BUCKETS_S.forEach((le, i) => {
      if (seconds <= le) next.latency.buckets[i]!++;
    });
    next.latency.sumS += seconds;
    next.latency.count++;
  }
  return next;
}

/** Counts a slot recorded as skipped (no row is read for it). */
export function addSkipped(s: MetricsState): MetricsState {
  return { ...s, cycles: { ...s.cycles, skipped: s.cycles.skipped + 1 } };
}

const seconds = (ms: number) => String(ms / 1000);

/** The Prometheus text exposition format (version 0.0.4) of the state. Pure. */
export function renderMetrics(s: MetricsState): string {
  const lines: string[] = [];
  const metric = (name: string, type: string, help: string, samples: [string, number | string][]) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [suffix, value] of samples) lines.push(`${name}${suffix} ${value}`);
  };
  metric('pmf_scheduler_start_time_seconds', 'gauge', 'When the agent started (Unix time); the counters count from here.', [['', seconds(s.startedAt)]]);
  metric('pmf_scheduler_cycles_total', 'counter', 'Cycles ended since the agent started, by status.', ENDED.map((st) => [`{status="${st}"}`, s.cycles[st]]));
  metric('pmf_scheduler_attempts_total', 'counter', 'Diego attempts ended since the agent started, by outcome.', OUTCOMES.map((o) => [`{outcome="${o}"}`, s.attempts[o]]));
  metric('pmf_scheduler_last_success_timestamp_seconds', 'gauge', 'When the last cycle succeeded (Unix time); 0 when none has.', [['', s.lastSuccessAt === null ? 0 : seconds(s.lastSuccessAt)]]);
  if (s.lastCycleDurationMs !== null) {
    metric('pmf_scheduler_last_cycle_duration_seconds', 'gauge', 'Duration of the last cycle that ended, all attempts included.', [['', seconds(s.lastCycleDurationMs)]]);
  }
  metric('pmf_scheduler_diego_latency_seconds', 'histogram', 'Diego latency of successful attempts since the agent started.', [
    ...LATENCY_BUCKETS_S.map((le, i): [string, number] => [`_bucket{le="${le}"}`, s.latency.buckets[i]!]),
    ['_bucket{le="+Inf"}', s.latency.count],
    ['_sum', Number(s.latency.sumS.toFixed(6))],
    ['_count', s.latency.count],
  ]);
  return `${lines.join('\n')}\n`;
}

/**
 * Replaces `path` atomically: the text goes to a temporary file in the same directory, then a rename puts it in
 * place, so node_exporter's textfile collector never reads half a file.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, text, 'utf8');
  await rename(tmp, path);
}
