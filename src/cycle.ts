import type { Clock } from './clock.ts';
import type { AttemptResult, DiegoClient } from './diego-client.ts';
import type { Logger } from './log.ts';
import { nextStep, type RetryPolicy } from './retry-policy.ts';
import type { HistoryStore } from './store/history-store.ts';
import type { CycleStatus, Trigger } from './store/schema.ts';

/** One symbol's cycle for one slot. */
export interface CycleJob {
  symbol: string;
  trigger: Trigger;
  /** The slot's time (for `startup`, the start time). */
  slot: number;
  /** The symbol's next slot: no attempt starts after it and none runs past it. */
  deadline: number;
}

export interface CycleDeps {
  clock: Clock;
  client: DiegoClient;
  store: HistoryStore;
  log: Logger;
  retry: RetryPolicy;
  timeframe: string;
  triggerExecution: boolean;
  diegoTimeoutMs: number;
  owner: string;
  newId: () => string;
  /** Appended to the cycle's log lines when several symbols share the log. */
  label: string;
}

export interface CycleResult {
  id?: number;
  status: Exclude<CycleStatus, 'running'> | 'claimed_elsewhere';
  reason?: string;
  attempts: number;
}

type StopReason = 'deadline' | 'aborted' | 'not_retryable' | 'exhausted';

/** How a cycle that did not succeed is recorded: status, reason kind and the line an operator reads. */
export function cycleVerdict(stop: StopReason, last: AttemptResult | undefined): { status: 'failed' | 'interrupted'; reason: string } {
  if (stop === 'aborted') return { status: 'interrupted', reason: 'shutdown' };
  if (stop === 'deadline') return { status: 'failed', reason: 'deadline' };
  return { status: 'failed', reason: last?.outcome ?? 'unknown' };
}

/**
 * Runs one cycle: claims the slot, sends up to `retry.attempts` POSTs sharing one Idempotency-Key, and records
 * the cycle and every attempt as it starts and ends, so a crash leaves evidence. `abort` cuts it at shutdown.
 */
export async function runCycle(job: CycleJob, d: CycleDeps, abort: AbortSignal): Promise<CycleResult> {
  const idempotencyKey = d.newId();
  const claimed = await d.store.claimCycle({
    symbol: job.symbol,
    timeframe: d.timeframe,
    trigger: job.trigger,
    scheduledAt: job.slot,
    deadlineAt: job.deadline,
    startedAt: d.clock.now(),
    idempotencyKey,
    owner: d.owner,
  });
  if (claimed === undefined) {
    d.log.info(`Slot ${new Date(job.slot).toISOString()} already claimed by another agent; not firing${d.label}`, { symbol: job.symbol });
    return { status: 'claimed_elsewhere', attempts: 0 };
  }
  const id = claimed;
  const fields = { cycle: id, symbol: job.symbol, trigger: job.trigger, slot: new Date(job.slot).toISOString() };
  d.log.info(`Starting scalping cycle #${id}${d.label}`, fields);

  const body = { symbol: job.symbol, timeframe: d.timeframe, triggerExecution: d.triggerExecution };
  let attempt = 0;
  let last: AttemptResult | undefined;
  let stop: StopReason | undefined;
  while (stop === undefined) {
    const startedAt = d.clock.now();
    if (abort.aborted) stop = 'aborted';
    else if (startedAt >= job.deadline) stop = 'deadline';
    if (stop) break;
    attempt++;
    const requestId = d.newId();
    d.log.info(`Calling Diego analysis endpoint...${attempt > 1 ? ` (attempt ${attempt}/${d.retry.attempts})` : ''}`, { ...fields, attempt, requestId });
    const attemptId = await d.store.startAttempt({ cycleId: id, number: attempt, requestId, startedAt });
    // The attempt must end by the deadline: cut its timeout, and remember that the deadline did the cutting.
    const timeoutMs = Math.min(d.diegoTimeoutMs, job.deadline - startedAt);
    last = await d.client.analyze(body, { idempotencyKey, requestId, timeoutMs, signal: abort });
    const finishedAt = d.clock.now();
    await d.store.finishAttempt(attemptId, {
      finishedAt,
      durationMs: finishedAt - startedAt,
      outcome: last.outcome,
      httpStatus: last.status,
      error: last.error,
      excerpt: last.excerpt,
    });
    if (last.outcome === 'ok') {
      d.log.info(`Diego response: ${last.status} ${last.summary}`, { ...fields, attempt, status: last.status, durationMs: finishedAt - startedAt });
      break;
    }
    const cutByDeadline = last.outcome === 'timeout' && timeoutMs < d.diegoTimeoutMs;
    const step = cutByDeadline ? ({ kind: 'stop', reason: 'deadline' } as const) : nextStep(last, attempt, finishedAt, job.deadline, d.retry);
    const why = `${last.outcome}${last.error ? ` (${last.error})` : ''}`;
    if (step.kind === 'retry') {
      d.log.warn(`Attempt ${attempt}/${d.retry.attempts} failed: ${why}; retrying in ${step.delayMs} ms`, { ...fields, attempt, outcome: last.outcome, status: last.status, delayMs: step.delayMs });
      await d.clock.sleep(step.delayMs, abort);
    } else if (step.kind === 'stop') {
      if (step.reason !== 'exhausted' || attempt < d.retry.attempts) d.log.warn(`Attempt ${attempt}/${d.retry.attempts} failed: ${why}`, { ...fields, attempt, outcome: last.outcome, status: last.status });
      stop = step.reason;
    }
  }

  const finishedAt = d.clock.now();
  if (stop === undefined && last?.outcome === 'ok') {
    await d.store.finishCycle(id, { finishedAt, status: 'succeeded', attempts: attempt, httpStatus: last.status, summary: last.summary, executed: last.executed });
    d.log.info(`Scalping cycle completed successfully${d.label}`, { ...fields, attempts: attempt, durationMs: finishedAt - job.slot });
    return { id, status: 'succeeded', attempts: attempt };
  }
  const verdict = cycleVerdict(stop ?? 'exhausted', last);
  const error =
    verdict.reason === 'deadline'
      ? `deadline: the next slot ${new Date(job.deadline).toISOString()} came before an answer${last?.error ? `; last error: ${last.error}` : ''}`
      : verdict.reason === 'shutdown'
        ? 'interrupted by shutdown'
        : (last?.error ?? last?.outcome ?? 'no attempt');
  await d.store.finishCycle(id, { finishedAt, status: verdict.status, attempts: attempt, reason: verdict.reason, error, httpStatus: last?.status, summary: last?.summary, executed: false });
  const message =
    verdict.status === 'interrupted'
      ? `Scalping cycle #${id} interrupted by shutdown after ${attempt} attempt(s)${d.label}`
      : verdict.reason === 'deadline'
        ? `Scalping cycle #${id} failed after ${attempt} attempt(s): stopped at its deadline, the next slot (${new Date(job.deadline).toISOString()}); the cron pattern may be too tight for Diego${d.label}`
        : `Scalping cycle #${id} failed after ${attempt} attempt(s): ${error}${d.label}`;
  d.log.error(message, { ...fields, attempts: attempt, reason: verdict.reason, status: verdict.status });
  return { id, status: verdict.status, reason: verdict.reason, attempts: attempt };
}
