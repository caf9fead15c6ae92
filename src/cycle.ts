import type { Clock } from './clock.ts';
import type { AttemptResult, DiegoClient } from './diego-client.ts';
import { errorText } from './error-text.ts';
import type { Logger } from './log.ts';
import { nextStep, type RetryPolicy } from './retry-policy.ts';
import { recordLabel, type HistoryStore } from './store/history-store.ts';
import type { CycleStatus, Trigger } from './store/schema.ts';

/** One symbol's cycle for one slot. */
export interface CycleJob {
  symbol: string;
  trigger: Trigger;
  /** The slot's time (for `startup`, the start time). */
  slot: number;
  /** The symbol's next slot: no attempt starts after it and none runs past it. */
  deadline: number;
  /**
   * Aborted by the agent when the deadline slot itself fires. A timer set for the deadline wakes a few ms late, so
   * without this the old attempt would still be in flight at the boundary and the next slot would be skipped.
   */
  cut?: AbortSignal;
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
  /** `unclaimed`: the claim could not be written (the database is unavailable), so the slot was not fired. */
  status: Exclude<CycleStatus, 'running'> | 'claimed_elsewhere' | 'unclaimed';
  reason?: string;
  attempts: number;
}

type StopReason = 'deadline' | 'aborted' | 'not_retryable' | 'exhausted' | 'missed';

/**
 * What a cycle prepared ahead of its slot is told at the boundary: `fire`; `missed` (a later slot was already due
 * when the agent woke, so this one is passed over); `shutdown` (the agent stopped before the slot came).
 */
export type Release = 'fire' | 'missed' | 'shutdown';

/** How a cycle that did not succeed is recorded: status, reason kind and the line an operator reads. */
export function cycleVerdict(stop: StopReason, last: AttemptResult | undefined): { status: 'failed' | 'interrupted' | 'skipped'; reason: string } {
  if (stop === 'aborted') return { status: 'interrupted', reason: 'shutdown' };
  if (stop === 'missed') return { status: 'skipped', reason: 'missed' };
  if (stop === 'deadline') return { status: 'failed', reason: 'deadline' };
  return { status: 'failed', reason: last?.outcome ?? 'unknown' };
}

/**
 * Runs one cycle: claims the slot, sends up to `retry.attempts` POSTs sharing one Idempotency-Key, and records
 * the cycle and every attempt as it starts and ends, so a crash leaves evidence. `abort` cuts it at shutdown.
 * Given `release`, the cycle is prepared ahead of its slot: the claim and the first attempt's row are written at
 * once, and the first POST leaves as soon as `release` says `fire` (at the boundary), no database write between.
 */
export async function runCycle(job: CycleJob, d: CycleDeps, abort: AbortSignal, release?: Promise<Release>): Promise<CycleResult> {
  const idempotencyKey = d.newId();
  let claimed: number | undefined;
  try {
    claimed = await d.store.claimCycle({
      symbol: job.symbol,
      timeframe: d.timeframe,
      trigger: job.trigger,
      scheduledAt: job.slot,
      deadlineAt: job.deadline,
      // Claimed ahead of its slot, a cycle still starts at the slot: that is when its request leaves, never before.
      startedAt: Math.max(job.slot, d.clock.now()),
      idempotencyKey,
      owner: d.owner,
    });
  } catch (err) {
    // No claim, no fire (PostgreSQL shared by replicas: another replica may fire this slot, and firing without the
    // claim could make it twice). The next slot tries again, which is how firing resumes once the database is back.
    await release; // a prepared cycle waits for its slot, so the log line comes at the slot as a fired one would
    d.log.warn(`Could not claim slot ${new Date(job.slot).toISOString()} (${errorText(err)}): not firing it${d.label}`, { symbol: job.symbol, slot: new Date(job.slot).toISOString() });
    return { status: 'unclaimed', attempts: 0 };
  }
  if (claimed === undefined) {
    await release; // as above: a prepared cycle says so at its slot
    const taken =
      job.trigger === 'startup'
        ? `Run on start skipped: the job already ran (or is claimed) since ${new Date(job.slot).toISOString()}, this interval's slot, by another agent`
        : `Slot ${new Date(job.slot).toISOString()} already claimed by another agent; not firing`;
    d.log.info(`${taken}${d.label}`, { symbol: job.symbol });
    return { status: 'claimed_elsewhere', attempts: 0 };
  }
  const id = claimed;
  const fields = { cycle: id, symbol: job.symbol, trigger: job.trigger, slot: new Date(job.slot).toISOString() };
  let announced = false;
  const announce = () => {
    if (!announced) d.log.info(`Starting scalping cycle ${recordLabel(id)}${d.label}`, fields);
    announced = true;
  };
  const openAttempt = async (number: number, startedAt: number) => {
    const requestId = d.newId();
    return { id: await d.store.startAttempt({ cycleId: id, number, requestId, startedAt }), requestId, startedAt };
  };

  const body = { symbol: job.symbol, timeframe: d.timeframe, triggerExecution: d.triggerExecution };
  // Prepared ahead: the first attempt's row is written before the slot too, then the request waits for it.
  let ready = release ? await openAttempt(1, Math.max(job.slot, d.clock.now())) : undefined;
  const go = release ? await release : 'fire';
  let attempt = 0;
  let last: AttemptResult | undefined;
  let stop: StopReason | undefined = go === 'missed' ? 'missed' : go === 'shutdown' ? 'aborted' : undefined;
  while (stop === undefined) {
    const now = d.clock.now();
    if (abort.aborted) stop = 'aborted';
    else if (now >= job.deadline) stop = 'deadline';
    if (stop) break;
    attempt++;
    const sent = ready ?? (await openAttempt(attempt, now));
    ready = undefined;
    // The attempt must end by the deadline: cut its timeout, and remember that the deadline did the cutting.
    const timeoutMs = Math.min(d.diegoTimeoutMs, job.deadline - now);
    // Precision-critical: the request is on its way before anything else runs; the log lines follow it.
    const answer = d.client.analyze(body, { idempotencyKey, requestId: sent.requestId, timeoutMs, signal: abort, deadline: job.cut });
    announce();
    d.log.info(`Calling Diego analysis endpoint...${attempt > 1 ? ` (attempt ${attempt}/${d.retry.attempts})` : ''}`, { ...fields, attempt, requestId: sent.requestId });
    last = await answer;
    const startedAt = sent.startedAt;
    const finishedAt = d.clock.now();
    await d.store.finishAttempt(sent.id, {
      finishedAt,
      durationMs: finishedAt - startedAt,
      outcome: last.outcome,
      httpStatus: last.status,
      error: last.error,
      // An ok answer lives on as the cycle's summary (signal, order); its body too would be most of the history's
      // size. A failure keeps its body: that is what an operator reads to see what went wrong.
      excerpt: last.outcome === 'ok' ? undefined : last.excerpt,
    });
    if (last.outcome === 'ok') {
      d.log.info(`Diego response: ${last.status} ${last.summary}`, { ...fields, attempt, status: last.status, durationMs: finishedAt - startedAt });
      break;
    }
    const cutByDeadline = last.outcome === 'timeout' && (timeoutMs < d.diegoTimeoutMs || job.cut?.aborted === true);
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
  if (ready) {
    // The prepared attempt never went out (passed over, or a stop before its slot): its row says so.
    attempt++;
    await d.store.finishAttempt(ready.id, { finishedAt, durationMs: 0, outcome: 'aborted', error: `not sent: ${stop === 'missed' ? 'its slot was passed over' : 'stopped before its slot'}` });
  }
  if (stop !== 'missed') announce();
  if (stop === undefined && last?.outcome === 'ok') {
    await d.store.finishCycle(id, { finishedAt, status: 'succeeded', attempts: attempt, httpStatus: last.status, summary: last.brief, executed: last.executed });
    d.log.info(`Scalping cycle completed successfully${d.label}`, { ...fields, attempts: attempt, durationMs: finishedAt - job.slot });
    return { id, status: 'succeeded', attempts: attempt };
  }
  const verdict = cycleVerdict(stop ?? 'exhausted', last);
  const error =
    verdict.reason === 'deadline'
      ? `deadline: the next slot ${new Date(job.deadline).toISOString()} came before an answer${last?.error ? `; last error: ${last.error}` : ''}`
      : verdict.reason === 'shutdown'
        ? 'interrupted by shutdown'
        : verdict.reason === 'missed'
          ? 'not fired: a later slot was already due when the agent woke (late wake-up or clock jump)'
          : (last?.error ?? last?.outcome ?? 'no attempt');
  await d.store.finishCycle(id, { finishedAt, status: verdict.status, attempts: attempt, reason: verdict.reason, error, httpStatus: last?.status, summary: last?.brief, executed: false });
  const message =
    verdict.status === 'interrupted'
      ? `Scalping cycle ${recordLabel(id)} interrupted by shutdown after ${attempt} attempt(s)${d.label}`
      : verdict.reason === 'deadline'
        ? `Scalping cycle ${recordLabel(id)} failed after ${attempt} attempt(s): stopped at its deadline, the next slot (${new Date(job.deadline).toISOString()}); the cron pattern may be too tight for Diego${d.label}`
        : `Scalping cycle ${recordLabel(id)} failed after ${attempt} attempt(s): ${error}${d.label}`;
  if (verdict.status === 'skipped') d.log.warn(`Slot ${fields.slot} passed over: ${error}${d.label}`, { ...fields, reason: verdict.reason, status: verdict.status });
  else d.log.error(message, { ...fields, attempts: attempt, reason: verdict.reason, status: verdict.status });
  return { id, status: verdict.status, reason: verdict.reason, attempts: attempt };
}
