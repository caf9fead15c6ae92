import { formatDuration } from '../time-spec.ts';
import type { AttemptView, CycleView } from './history-query.ts';
import { clip, isoOrNull, paintStatus, table, utcTime, type Colors } from './render-text.ts';

/** A cycle in `history --json` (field names documented in the README; times ISO 8601 UTC). */
export function cycleJson(v: CycleView) {
  return {
    id: v.id,
    symbol: v.symbol,
    timeframe: v.timeframe,
    trigger: v.trigger,
    scheduledAt: isoOrNull(v.scheduledAt),
    startedAt: isoOrNull(v.startedAt),
    finishedAt: isoOrNull(v.finishedAt),
    status: v.status,
    attempts: v.attempts,
    durationMs: v.durationMs,
    httpStatus: v.httpStatus,
    reason: v.reason,
    error: v.error,
    summary: v.summary,
    executed: v.executed,
    owner: v.owner,
  };
}

/** An attempt in `history --cycle ID --json`. */
export function attemptJson(a: AttemptView) {
  return {
    number: a.number,
    requestId: a.requestId,
    startedAt: isoOrNull(a.startedAt),
    finishedAt: isoOrNull(a.finishedAt),
    durationMs: a.durationMs,
    outcome: a.outcome,
    httpStatus: a.httpStatus,
    error: a.error,
    responseExcerpt: a.responseExcerpt,
  };
}

/** The short "what happened" of a cycle: for an answer, the few words the agent kept of it; otherwise the reason and error. */
export function shortSummary(v: CycleView): string {
  if (v.status === 'succeeded' && v.summary) return v.summary;
  if (v.status === 'running') return 'running';
  // The error often opens with its reason already (`deadline: the next slot …`): say it once.
  if (v.reason && v.error?.startsWith(`${v.reason}:`)) return v.error;
  return [v.reason, v.error].filter((p) => p !== null && p !== '').join(': ') || v.status;
}

const dash = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
const duration = (ms: number | null) => (ms === null ? '-' : formatDuration(ms));

/** The `history` table, newest first as given, with the replica that ran each cycle (its owner). Pure. */
export function renderHistoryTable(rows: readonly CycleView[], c: Colors): string {
  const lines = table(
    ['cycle', 'symbol', 'scheduled (UTC)', 'status', 'att', 'duration', 'http', 'replica', 'summary'],
    rows.map((v) => [
      { text: `#${v.id}`, right: true },
      { text: v.symbol },
      { text: `${utcTime(v.scheduledAt)}${v.trigger === 'startup' ? '*' : ''}` },
      { text: v.status, paint: (s) => paintStatus(c, v.status, s) },
      { text: String(v.attempts), right: true },
      { text: duration(v.durationMs), right: true },
      { text: dash(v.httpStatus), right: true },
      { text: clip(v.owner, 40), paint: c.dim },
      { text: clip(shortSummary(v), 70), paint: v.status === 'succeeded' ? undefined : c.dim },
    ]),
    c,
  );
  if (rows.some((v) => v.trigger === 'startup')) lines.push(c.dim('* run on start (RUN_ON_START), not a cron slot'));
  return lines.join('\n');
}

/** `history --cycle ID`: the cycle's fields, then each attempt with its error and response excerpt. Pure. */
export function renderCycleDetail(found: { cycle: CycleView; attempts: readonly AttemptView[] }, c: Colors): string {
  const v = found.cycle;
  const late = v.startedAt - v.scheduledAt;
  const field = (name: string, value: string) => `  ${c.dim(name.padEnd(10))} ${value}`;
  const lines = [
    c.bold(`Cycle #${v.id}  ${v.symbol} ${v.timeframe}  (${v.trigger})`),
    field('status', `${paintStatus(c, v.status)}${v.reason ? ` (${v.reason})` : ''}`),
    field('scheduled', `${utcTime(v.scheduledAt, true)} UTC`),
    field('started', `${utcTime(v.startedAt, true)} UTC${v.trigger === 'schedule' ? ` (${formatDuration(late)} after the slot)` : ''}`),
    field('finished', v.finishedAt === null ? '-' : `${utcTime(v.finishedAt, true)} UTC (${formatDuration(v.durationMs ?? 0)})`),
    field('attempts', `${v.attempts}${v.httpStatus !== null ? `, last HTTP ${v.httpStatus}` : ''}`),
  ];
  if (v.error) lines.push(field('error', v.error));
  if (v.summary) lines.push(field('answer', v.summary));
  lines.push(field('order', v.executed ? 'placed' : 'none'), field('owner', v.owner));
  if (found.attempts.length === 0) return [...lines, '', c.dim('No attempts recorded.')].join('\n');
  lines.push('', c.bold('Attempts'));
  for (const a of found.attempts) {
    const outcome = a.outcome ?? 'in flight';
    const paint = a.outcome === 'ok' ? c.green : a.outcome === null ? c.cyan : c.red;
    lines.push(`  ${c.bold(`${a.number}.`)} ${utcTime(a.startedAt, true)} UTC  ${duration(a.durationMs).padStart(8)}  ${paint(outcome)}${a.httpStatus !== null ? `  HTTP ${a.httpStatus}` : ''}  ${c.dim(`request ${a.requestId}`)}`);
    if (a.error) lines.push(`     ${c.dim('error')}    ${a.error}`);
    if (a.responseExcerpt) lines.push(`     ${c.dim('response')} ${clip(a.responseExcerpt, 300)}`);
  }
  return lines.join('\n');
}
