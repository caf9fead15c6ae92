import { constants } from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import process from 'node:process';
import type { AttemptOutcome, CycleStatus, SkipReason, Trigger } from '../../records.ts';

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
  /** Slots recorded as skipped, by reason (`missed`, `overlap`, …): an alert can leave a deliberate skip aside. */
  skipped: Record<string, number>;
  /** The agent's last heartbeat: the file is rewritten with it, so a stale value means the agent is down or stuck. */
  heartbeatAt: number;
  /** The last clock check (NTP_SERVER); null: none yet, or no NTP_SERVER. */
  clock: { offsetMs: number; rttMs: number } | null;
  /** The last reading of the exchange's clock (EXCHANGE_TIME_URL), and whether slots fire on it; null: none yet. */
  exchangeClock?: { offsetMs: number; rttMs: number; firing: boolean } | null;
  /** Cumulative counts per bucket of LATENCY_BUCKETS_S, then the sum (s) and count of successful attempts. */
  latency: { buckets: number[]; sumS: number; count: number };
  /** Cycles run now (`pmf-scheduler trigger`) that ended, included in `cycles`. */
  manual: number;
  /** Per symbol and scope (`cycles`, `execution`): whether a live pause holds it; empty until the control state is read. */
  paused: { symbol: string; scope: string; on: boolean }[];
  /** Per symbol and guard (`orders_cap`, `failures`, `exchange`): whether it holds execution off; empty until read. */
  guards: { symbol: string; guard: string; on: boolean }[];
  /** Cycles ended per job (symbol × timeframe), by status: each job's own series (`BTC/USDT 5m` → counts). */
  jobs: Record<string, { symbol: string; timeframe: string; cycles: Record<string, number> }>;
}

/** A job's counts with one more cycle of `status` (pure). */
function addJobCycle(jobs: MetricsState['jobs'], job: { symbol?: string; timeframe?: string } | undefined, status: string): MetricsState['jobs'] {
  if (job?.symbol === undefined || job.timeframe === undefined) return jobs;
  const key = `${job.symbol} ${job.timeframe}`;
  const was = jobs[key] ?? { symbol: job.symbol, timeframe: job.timeframe, cycles: {} };
  return { ...jobs, [key]: { ...was, cycles: { ...was.cycles, [status]: (was.cycles[status] ?? 0) + 1 } } };
}

/** Zeroed metrics; `lastSuccessAt` comes from the history so the gauge survives restarts. */
export function emptyMetrics(startedAt: number, lastSuccessAt: number | null): MetricsState {
  return {
    startedAt,
    cycles: { succeeded: 0, failed: 0, skipped: 0, interrupted: 0 },
    attempts: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as Record<AttemptOutcome, number>,
    lastSuccessAt,
    lastCycleDurationMs: null,
    skipped: { missed: 0, overlap: 0 },
    heartbeatAt: startedAt,
    clock: null,
    latency: { buckets: LATENCY_BUCKETS_S.map(() => 0), sumS: 0, count: 0 },
    manual: 0,
    paused: [],
    guards: [],
    jobs: {},
  };
}

/** Adds one ended cycle and its attempts (pure: returns the new state). */
export function addCycle(
  s: MetricsState,
  cycle: { status: CycleStatus; reason?: string | null; finishedAt: number | null; durationMs: number | null; trigger?: Trigger; symbol?: string; timeframe?: string },
  attempts: readonly { outcome: AttemptOutcome | null; durationMs: number | null }[],
): MetricsState {
  const next: MetricsState = structuredClone(s);
  if (cycle.status !== 'running') next.cycles[cycle.status]++;
  if (cycle.status === 'skipped') next.skipped[cycle.reason ?? 'unknown'] = (next.skipped[cycle.reason ?? 'unknown'] ?? 0) + 1;
  if (cycle.status !== 'running' && cycle.trigger === 'manual') next.manual++;
  if (cycle.status !== 'running') next.jobs = addJobCycle(next.jobs, cycle, cycle.status);
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

/** Counts a slot recorded as skipped for `reason` (no row is read for it). */
export function addSkipped(s: MetricsState, reason: SkipReason, job?: { symbol: string; timeframe: string }): MetricsState {
  return { ...s, cycles: { ...s.cycles, skipped: s.cycles.skipped + 1 }, skipped: { ...s.skipped, [reason]: (s.skipped[reason] ?? 0) + 1 }, jobs: addJobCycle(s.jobs, job, 'skipped') };
}

/** Notes a clock check. */
export function addClockCheck(s: MetricsState, offsetMs: number, rttMs: number): MetricsState {
  return { ...s, clock: { offsetMs, rttMs } };
}

/** Notes a heartbeat. */
export function addHeartbeat(s: MetricsState, at: number): MetricsState {
  return { ...s, heartbeatAt: at };
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
  metric('pmf_scheduler_skipped_total', 'counter', 'Slots recorded as skipped since the agent started, by reason.', Object.entries(s.skipped).map(([r, n]) => [`{reason="${r}"}`, n]));
  metric('pmf_scheduler_attempts_total', 'counter', 'Diego attempts ended since the agent started, by outcome.', OUTCOMES.map((o) => [`{outcome="${o}"}`, s.attempts[o]]));
  metric('pmf_scheduler_heartbeat_timestamp_seconds', 'gauge', 'The agent\'s last heartbeat (Unix time), every 10 s: older means the agent is down or stuck.', [['', seconds(s.heartbeatAt)]]);
  metric('pmf_scheduler_last_success_timestamp_seconds', 'gauge', 'When the last cycle succeeded (Unix time); 0 when none has.', [['', s.lastSuccessAt === null ? 0 : seconds(s.lastSuccessAt)]]);
  if (s.lastCycleDurationMs !== null) {
    metric('pmf_scheduler_last_cycle_duration_seconds', 'gauge', 'Duration of the last cycle that ended, all attempts included.', [['', seconds(s.lastCycleDurationMs)]]);
  }
  if (s.exchangeClock) {
    metric('pmf_scheduler_exchange_clock_offset_seconds', 'gauge', "How far the exchange's clock is ahead of ours (EXCHANGE_TIME_URL), at the last reading.", [['', seconds(s.exchangeClock.offsetMs)]]);
    metric('pmf_scheduler_exchange_clock_rtt_seconds', 'gauge', "Shortest round trip to the exchange's time endpoint at the last reading.", [['', seconds(s.exchangeClock.rttMs)]]);
    metric('pmf_scheduler_fire_clock_exchange', 'gauge', "1 while slots fire on the exchange's clock (FIRE_CLOCK=exchange), 0 on ours (local, or fallen back).", [['', s.exchangeClock.firing ? 1 : 0]]);
  }
  if (s.clock !== null) {
    metric('pmf_scheduler_clock_offset_seconds', 'gauge', 'How far the local clock is behind the NTP server (positive: late), at the last check.', [['', seconds(s.clock.offsetMs)]]);
    metric('pmf_scheduler_clock_rtt_seconds', 'gauge', 'Round trip to the NTP server at the last clock check.', [['', seconds(s.clock.rttMs)]]);
  }
  metric('pmf_scheduler_diego_latency_seconds', 'histogram', 'Diego latency of successful attempts since the agent started.', [
    ...LATENCY_BUCKETS_S.map((le, i): [string, number] => [`_bucket{le="${le}"}`, s.latency.buckets[i]!]),
    ['_bucket{le="+Inf"}', s.latency.count],
    ['_sum', Number(s.latency.sumS.toFixed(6))],
    ['_count', s.latency.count],
  ]);
  const jobs = Object.values(s.jobs);
  if (jobs.length > 0) {
    const samples = jobs.flatMap((j) => ENDED.map((st): [string, number] => [`{symbol="${j.symbol}",timeframe="${j.timeframe}",status="${st}"}`, j.cycles[st] ?? 0]));
    metric('pmf_scheduler_job_cycles_total', 'counter', 'Cycles ended since the agent started, per job (symbol and timeframe) and status.', samples);
  }
  metric('pmf_scheduler_manual_cycles_total', 'counter', 'Cycles run now (pmf-scheduler trigger) ended since the agent started, of every status.', [['', s.manual]]);
  if (s.paused.length > 0) {
    metric('pmf_scheduler_paused', 'gauge', '1 while a live pause holds the symbol: scope cycles (nothing fires) or execution (analysis only).', s.paused.map((p) => [`{symbol="${p.symbol}",scope="${p.scope}"}`, p.on ? 1 : 0]));
  }
  if (s.guards.length > 0) {
    metric('pmf_scheduler_execution_guard', 'gauge', '1 while a guard rail holds execution off for the symbol (docs/guards.md); only resume --execution lifts it.', s.guards.map((g) => [`{symbol="${g.symbol}",guard="${g.guard}"}`, g.on ? 1 : 0]));
  }
  return `${lines.join('\n')}\n`;
}

/** The metrics file's mode, whatever the umask: node_exporter reads it, nobody else writes it. */
export const METRICS_FILE_MODE = 0o644;
// Created, never opened if it exists, and never through a symbolic link: a link planted at the temporary name
// would otherwise make the agent overwrite the file it points to.
const CREATE_NEW = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/**
 * Replaces `path` atomically: the text goes to a temporary file in the same directory, then a rename puts it in
 * place, so node_exporter's textfile collector never reads half a file. The temporary file is created exclusively
 * with mode 0644 (set again after creation, so a umask of 000 cannot widen it); whatever already holds its name (a
 * file left by a crash, or a planted link) is removed, never written through.
 */
export async function writeFileAtomic(path: string, text: string): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  const file = await open(tmp, CREATE_NEW, METRICS_FILE_MODE).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
    await unlink(tmp); // the link itself, not what it points to
    return open(tmp, CREATE_NEW, METRICS_FILE_MODE);
  });
  try {
    await file.chmod(METRICS_FILE_MODE);
    await file.writeFile(text, 'utf8');
  } finally {
    await file.close();
  }
  await rename(tmp, path);
}
