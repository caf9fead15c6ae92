import { formatDuration } from '../time/durations.ts';
import type { AttemptView, CycleView } from '../store/history/history-query.ts';
import type { Trigger } from '../records.ts';
import { clip, isoOrNull, paintStatus, shown, table, utcTime, type Cell, type Colors } from './render-text.ts';

/** A cycle in `history --json` (field names documented in docs/commands.md; times ISO 8601 UTC). */
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
    executionOff: v.executionOff,
    idempotencyKey: v.idempotencyKey,
    traceId: v.traceId ?? null,
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
  if (v.executionOff !== null && v.status !== 'skipped') return `[analysis only: ${v.executionOff}] ${shortSummary({ ...v, executionOff: null })}`;
  if (v.status === 'succeeded' && v.summary) return v.summary;
  if (v.status === 'running') return 'running';
  // The error often opens with its reason already (`deadline: the next slot …`): say it once.
  if (v.reason && v.error?.startsWith(`${v.reason}:`)) return v.error;
  return [v.reason, v.error].filter((p) => p !== null && p !== '').join(': ') || v.status;
}

/** How the table marks a cycle that is not a cron slot. */
const MARK: Record<Trigger, string> = { schedule: '', startup: '*', manual: '!' };

const dash = (v: unknown) => (v === null || v === undefined ? '-' : String(v));
const duration = (ms: number | null) => (ms === null ? '-' : formatDuration(ms));

/** Below this the summary column is not cut further: a narrower terminal wraps rather than showing nothing. */
const MIN_SUMMARY = 12;
/** Left out, in this order, when the terminal is too narrow for every column and MIN_SUMMARY (`--json` has them all). */
const DROPPED_FIRST = ['replica', 'http', 'att'];

/** Widths that `history --follow` holds its columns to, so rows printed as cycles end line up with the first ones. */
const FOLLOW_WIDTHS: Record<string, number> = { cycle: 7, symbol: 10, 'scheduled (UTC)': 20, status: 11, att: 3, duration: 8, http: 4, replica: 16 };

/**
 * The `history` table's lines, header first, rows in the order given, with the replica that ran each cycle (its
 * owner). Given the terminal's `width`, the summary (the last column) is cut so that no row wraps; `fixed` holds every
 * other column to a fixed width (FOLLOW_WIDTHS), for rows printed later under the same header. Pure.
 */
export function historyTableLines(rows: readonly CycleView[], c: Colors, opts: { width?: number; fixed?: boolean } = {}): string[] {
  const names = ['cycle', 'symbol', 'scheduled (UTC)', 'status', 'att', 'duration', 'http', 'replica', 'summary'];
  const header = names.map((n) => (opts.fixed && FOLLOW_WIDTHS[n] ? n.padEnd(FOLLOW_WIDTHS[n]!) : n));
  // Rows of several timeframes (candle-aligned jobs): each says its job, `BTC/USDT 5m`; of one, the symbol as always.
  const jobs = new Set(rows.map((v) => v.timeframe)).size > 1;
  const cells: Cell[][] = rows.map((v) => [
    { text: `#${v.id}`, right: true },
    { text: jobs ? `${v.symbol} ${v.timeframe}` : v.symbol },
    { text: `${utcTime(v.scheduledAt, v.trigger === 'manual')}${MARK[v.trigger]}` },
    { text: v.status, paint: (s) => paintStatus(c, v.status, s) },
    { text: String(v.attempts), right: true },
    { text: duration(v.durationMs), right: true },
    { text: dash(v.httpStatus), right: true },
    { text: clip(v.owner, opts.fixed ? FOLLOW_WIDTHS.replica! : 40), paint: c.dim },
    // Cut only to fit a terminal (below); piped, the row is whole (issue 24 item 14: it was cut at 70 always).
    { text: shortSummary(v), paint: v.status === 'succeeded' ? undefined : c.dim },
  ]);
  if (opts.width !== undefined) {
    const width = opts.width;
    // Every column but the summary at its widest, two spaces apart; the summary gets what is left of the line. On a
    // narrow terminal the least telling columns go first, so the summary keeps some room.
    const before = () => header.slice(0, -1).reduce((sum, h, i) => sum + Math.max(h.length, ...cells.map((r) => r[i]!.text.length)) + 2, 0);
    for (const name of DROPPED_FIRST) {
      if (before() + MIN_SUMMARY <= width) break;
      const i = names.indexOf(name);
      for (const list of [names, header, ...cells]) list.splice(i, 1);
    }
    const room = Math.max(MIN_SUMMARY, width - before());
    for (const r of cells) r[r.length - 1]!.text = clip(r[r.length - 1]!.text, room);
  }
  return table(header, cells, c);
}

/** The `history` table, newest first as given (historyTableLines), with the note on startup cycles. Pure. */
export function renderHistoryTable(rows: readonly CycleView[], c: Colors, width?: number): string {
  const lines = historyTableLines(rows, c, { width });
  if (rows.some((v) => v.trigger === 'startup')) lines.push(c.dim('* run on start (RUN_ON_START), not a cron slot'));
  if (rows.some((v) => v.trigger === 'manual')) lines.push(c.dim('! run now (pmf-scheduler trigger), not a cron slot'));
  return lines.join('\n');
}

/** `history --cycle ID`: the cycle's fields, then each attempt with its error and response excerpt. Pure. */
export function renderCycleDetail(found: { cycle: CycleView; attempts: readonly AttemptView[] }, c: Colors): string {
  const v = found.cycle;
  const late = v.startedAt - v.scheduledAt;
  const field = (name: string, value: string) => `  ${c.dim(name.padEnd(10))} ${value}`;
  const lines = [
    c.bold(`Cycle #${v.id}  ${shown(v.symbol)} ${shown(v.timeframe)}  (${shown(v.trigger)})`),
    field('status', `${paintStatus(c, v.status, shown(v.status))}${v.reason ? ` (${shown(v.reason)})` : ''}`),
    field('scheduled', `${utcTime(v.scheduledAt, true)} UTC`),
    field('started', `${utcTime(v.startedAt, true)} UTC${v.trigger === 'schedule' ? ` (${formatDuration(late)} after the slot)` : ''}`),
    field('finished', v.finishedAt === null ? '-' : `${utcTime(v.finishedAt, true)} UTC (${formatDuration(v.durationMs ?? 0)})`),
    field('attempts', `${v.attempts}${v.httpStatus !== null ? `, last HTTP ${v.httpStatus}` : ''}`),
  ];
  if (v.error) lines.push(field('error', shown(v.error)));
  if (v.summary) lines.push(field('answer', shown(v.summary)));
  lines.push(field('order', v.executed ? 'placed' : 'none'));
  if (v.executionOff !== null) lines.push(field('execution', `off (triggerExecution false): ${shown(v.executionOff)}`));
  lines.push(field('owner', shown(v.owner)));
  if (v.idempotencyKey !== undefined) lines.push(field('key', `${v.idempotencyKey} (Idempotency-Key: what Diego logs)`));
  if (v.traceId) lines.push(field('trace', `${v.traceId} (the trace id of every attempt's traceparent)`));
  if (found.attempts.length === 0) return [...lines, '', c.dim('No attempts recorded.')].join('\n');
  // One table, so every column lines up whatever the outcome's length or a missing HTTP status; the error and
  // response of an attempt follow its row, indented under it.
  const [head, ...rows] = table(
    ['#', 'started (UTC)', 'duration', 'outcome', 'http', 'request'],
    found.attempts.map((a) => [
      { text: `${a.number}.`, right: true, paint: c.bold },
      { text: utcTime(a.startedAt, true) },
      { text: duration(a.durationMs), right: true },
      { text: shown(a.outcome ?? 'in flight'), paint: a.outcome === 'ok' ? c.green : a.outcome === null ? c.cyan : c.red },
      { text: dash(a.httpStatus), right: true },
      { text: shown(a.requestId), paint: c.dim },
    ]),
    c,
  );
  const indent = ' '.repeat(2 + String(found.attempts.length).length + 3);
  lines.push('', c.bold('Attempts'), `  ${head}`);
  found.attempts.forEach((a, i) => {
    lines.push(`  ${rows[i]}`);
    if (a.error) lines.push(`${indent}${c.dim('error   ')} ${shown(a.error)}`);
    if (a.responseExcerpt) lines.push(`${indent}${c.dim('response')} ${clip(a.responseExcerpt, 300)}`);
  });
  return lines.join('\n');
}
