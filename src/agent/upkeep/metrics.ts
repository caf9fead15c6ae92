import type { SkipReason } from '../../records.ts';
import type { Kysely } from 'kysely';
import type { Logger } from '../../log/logger.ts';
import { lastCycleWithStatus } from '../../store/history/cycle-lookups.ts';
import type { Schema } from '../../store/schema.ts';
import type { EndedCycle } from '../cycle.ts';
import { spell } from '../../log/spell.ts';
import { addClockCheck, addCycle, addHeartbeat, addSkipped, emptyMetrics, renderMetrics, writeFileAtomic, type MetricsState } from './metrics-file.ts';

/**
 * Keeps the metrics in memory and rewrites the textfile after each change, one write at a time. Only the last
 * success is read from the history, once at start, so the gauge survives restarts; the file exists once this
 * resolves.
 */
export async function startMetrics(db: Kysely<Schema>, path: string, startedAt: number, log: Logger) {
  const last = await lastCycleWithStatus(db, 'succeeded', Number.MAX_SAFE_INTEGER);
  let state: MetricsState = emptyMetrics(startedAt, last?.finished_at == null ? null : Number(last.finished_at));
  // Logged once per failing spell, not after every cycle.
  const health = spell(log, (why) => `Could not write the metrics file ${path}: ${why}`, `Metrics file ${path} written again`);
  let chain: Promise<void> = Promise.resolve();
  const change = (next: (s: MetricsState) => MetricsState) => {
    state = next(state);
    const text = renderMetrics(state);
    chain = chain.then(() => writeFileAtomic(path, text).then(health.ok, health.failed));
  };
  change((s) => s);
  await chain;
  return {
    cycleEnded: (ended: EndedCycle) => change((s) => addCycle(s, ended, ended.attempts)),
    slotSkipped: (reason: SkipReason, job?: { symbol: string; timeframe: string }) => change((s) => addSkipped(s, reason, job)),
    beat: (at: number) => change((s) => addHeartbeat(s, at)),
    clockChecked: (offsetMs: number, rttMs: number) => change((s) => addClockCheck(s, offsetMs, rttMs)),
    /** A reading of the exchange's clock; `firing` alone: the fire clock fell back or came back. */
    exchangeClock: (e: { offsetMs?: number; rttMs?: number; firing: boolean }) => change((s) => ({ ...s, exchangeClock: { offsetMs: e.offsetMs ?? s.exchangeClock?.offsetMs ?? 0, rttMs: e.rttMs ?? s.exchangeClock?.rttMs ?? 0, firing: e.firing } })),
    paused: (paused: MetricsState['paused'], guards: MetricsState['guards'] = []) => change((s) => ({ ...s, paused, guards })),
    idle: () => chain,
  };
}
