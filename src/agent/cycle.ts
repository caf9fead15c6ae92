import type { Clock } from '../time/clock.ts';
import type { AttemptResult, DiegoClient } from '../diego/client.ts';
import { errorLine } from '../log/error-line.ts';
import type { Logger } from '../log/logger.ts';
import { nextStep, type RetryPolicy } from './retry-policy.ts';
import { recordLabel, type AttemptOutcome, type CycleStatus, type Trigger } from '../records.ts';
import type { HistoryStore } from '../store/port.ts';

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
  /** Set while execution is paused (`pause --execution`): why; the request then says `triggerExecution: false`. */
  executionOff?: string;
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
  /** Told once the cycle's first request is on its way (the Healthchecks `/start` ping). */
  onStarted?: () => void;
}

type StopReason = 'deadline' | 'aborted' | 'not_retryable' | 'exhausted' | 'missed' | 'clock_back' | 'paused';

/**
 * What a cycle prepared ahead of its slot is told at the boundary: `fire`; `missed` (a later slot was already due
 * when the agent woke, so this one is passed over); `clock_back` (the wall clock went back a long way after it was
 * prepared, so it is passed over rather than held open); `shutdown` (the agent stopped before the slot came);
 * `paused` (a pause came between the preparation and the slot: the slot is skipped, its reason `paused`).
 */
export type Release = 'fire' | 'missed' | 'clock_back' | 'shutdown' | 'paused';

/** The reason the agent gives a cycle's abort signal when `pause --abort` cuts it (else: the shutdown). */
export const CUT_BY_PAUSE = 'paused';

/** The stops of a cycle whose slot was passed over, so nothing was sent: what its unsent attempt and its cycle say. */
const UNSENT = {
  missed: { attempt: 'its slot was passed over', cycle: 'not fired: a later slot was already due when the agent woke (late wake-up or clock jump)' },
  clock_back: { attempt: 'its slot was passed over', cycle: 'not fired: the wall clock went back a long way after the slot was prepared; its moment had already passed once' },
  paused: { attempt: 'paused before its slot', cycle: 'not fired: paused (pmf-scheduler pause) before its slot' },
} as const;
const passedOver = (stop: StopReason | undefined): stop is keyof typeof UNSENT => stop !== undefined && Object.hasOwn(UNSENT, stop);

/** How a cycle that did not succeed is recorded: status, reason kind and the line an operator reads. */
export function cycleVerdict(stop: StopReason, last: AttemptResult | undefined, abortReason?: unknown): { status: 'failed' | 'interrupted' | 'skipped'; reason: string } {
  if (stop === 'aborted') return { status: 'interrupted', reason: abortReason === CUT_BY_PAUSE ? 'paused' : 'shutdown' };
  if (passedOver(stop)) return { status: 'skipped', reason: stop };
  if (stop === 'deadline') return { status: 'failed', reason: 'deadline' };
  return { status: 'failed', reason: last?.outcome ?? 'unknown' };
}

/** What the metrics file counts of an ended cycle, straight from memory (no read back from the database). */
export interface EndedCycle {
  status: Exclude<CycleStatus, 'running'>;
  /** Why it did not succeed, as recorded (`missed`, `deadline`, …). */
  reason?: string;
  trigger: Trigger;
  finishedAt: number;
  durationMs: number;
  attempts: { outcome: AttemptOutcome; durationMs: number }[];
}

export interface CycleResult {
  id?: number;
  /** `unclaimed`: the claim could not be written (the database is unavailable), so the slot was not fired. */
  status: Exclude<CycleStatus, 'running'> | 'claimed_elsewhere' | 'unclaimed';
  reason?: string;
  attempts: number;
  /** The cycle as recorded, when this agent ran it. */
  ended?: EndedCycle;
}

/** A claimed cycle on its way: what the attempts loop and the closing share. */
interface Running {
  id: number;
  job: CycleJob;
  startedAt: number;
  fields: Record<string, unknown>;
  announce: () => void;
  attempts: EndedCycle['attempts'];
}

/**
 * Runs one cycle: claims the slot, sends up to `retry.attempts` POSTs sharing one Idempotency-Key, and records
 * the cycle and every attempt as it starts and ends, so a crash leaves evidence. `abort` cuts it at shutdown.
 * Given `release`, the cycle is prepared ahead of its slot: the claim and the first attempt's row are written at
 * once, and the first POST leaves as soon as `release` says `fire` (at the boundary), no database write between.
 */
export async function runCycle(job: CycleJob, d: CycleDeps, abort: AbortSignal, release?: Promise<Release>): Promise<CycleResult> {
  const idempotencyKey = d.newId();
  // Claimed ahead of its slot, a cycle still starts at the slot: that is when its request leaves, never before.
  const startedAt = Math.max(job.slot, d.clock.now());
  const claimed = await claim(job, d, idempotencyKey, startedAt, release);
  if (typeof claimed !== 'number') return claimed;
  const id = claimed;
  const fields = { cycle: id, symbol: job.symbol, trigger: job.trigger, slot: new Date(job.slot).toISOString() };
  let announced = false;
  const announce = () => {
    if (!announced) d.log.info(`Starting scalping cycle ${recordLabel(id)}${d.label}`, fields);
    announced = true;
  };
  const run: Running = { id, job, startedAt, fields, announce, attempts: [] };
  const { stop, last, count } = await sendAttempts(run, d, idempotencyKey, abort, release);
  if (!passedOver(stop)) announce();
  return closeCycle(run, d, stop, last, count, abort.reason);
}

/** Claims the slot: the cycle's id, or the result of a slot not fired (taken by another agent, or no claim written). */
async function claim(job: CycleJob, d: CycleDeps, idempotencyKey: string, startedAt: number, release?: Promise<Release>): Promise<number | CycleResult> {
  let claimed: number | undefined;
  try {
    claimed = await d.store.claimCycle({ symbol: job.symbol, timeframe: d.timeframe, trigger: job.trigger, scheduledAt: job.slot, deadlineAt: job.deadline, startedAt, idempotencyKey, owner: d.owner, executionOff: job.executionOff });
  } catch (err) {
    // No claim, no fire (PostgreSQL shared by replicas: another replica may fire this slot, and firing without the
    // claim could make it twice). The next slot tries again, which is how firing resumes once the database is back.
    await release; // a prepared cycle waits for its slot, so the log line comes at the slot as a fired one would
    d.log.warn(`Could not claim slot ${new Date(job.slot).toISOString()} (${errorLine(err)}): not firing it${d.label}`, { symbol: job.symbol, slot: new Date(job.slot).toISOString() });
    return { status: 'unclaimed', attempts: 0 };
  }
  if (claimed !== undefined) return claimed;
  await release; // as above: a prepared cycle says so at its slot
  const taken =
    job.trigger === 'startup'
      ? `Run on start skipped: the job already ran (or is claimed) since ${new Date(job.slot).toISOString()}, this interval's slot, by another agent`
      : `Slot ${new Date(job.slot).toISOString()} already claimed by another agent; not firing`;
  d.log.info(`${taken}${d.label}`, { symbol: job.symbol });
  return { status: 'claimed_elsewhere', attempts: 0 };
}

/** The attempts loop: POSTs until an answer is ok, the retry policy stops, the deadline comes or the agent stops. */
async function sendAttempts(run: Running, d: CycleDeps, idempotencyKey: string, abort: AbortSignal, release?: Promise<Release>) {
  const { id, job, fields } = run;
  const openAttempt = async (number: number, startedAt: number) => {
    const requestId = d.newId();
    return { id: await d.store.startAttempt({ cycleId: id, number, requestId, startedAt }), requestId, startedAt };
  };
  const body = { symbol: job.symbol, timeframe: d.timeframe, triggerExecution: d.triggerExecution && job.executionOff === undefined };
  // Prepared ahead: the first attempt's row is written before the slot too, then the request waits for it.
  let ready = release ? await openAttempt(1, Math.max(job.slot, d.clock.now())) : undefined;
  const go = release ? await release : 'fire';
  let attempt = 0;
  let last: AttemptResult | undefined;
  let stop: StopReason | undefined = go === 'fire' ? undefined : go === 'shutdown' ? 'aborted' : go;
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
    // When the request left, for `stats`' fire lateness: a clock read, written with the attempt's finish below.
    const sentAt = d.clock.now();
    run.announce();
    if (attempt === 1) d.onStarted?.();
    d.log.info(`Calling Diego analysis endpoint...${attempt > 1 ? ` (attempt ${attempt}/${d.retry.attempts})` : ''}${job.executionOff ? ` (triggerExecution false: ${job.executionOff})` : ''}`, { ...fields, attempt, requestId: sent.requestId });
    last = await answer;
    const finishedAt = d.clock.now();
    const durationMs = finishedAt - sent.startedAt;
    await d.store.finishAttempt(sent.id, {
      finishedAt,
      sentAt,
      durationMs,
      outcome: last.outcome,
      httpStatus: last.status,
      error: last.error,
      // An ok answer lives on as the cycle's summary (signal, order); its body too would be most of the history's
      // size. A failure keeps its body: that is what an operator reads to see what went wrong.
      excerpt: last.outcome === 'ok' ? undefined : last.excerpt,
    });
    run.attempts.push({ outcome: last.outcome, durationMs });
    if (last.outcome === 'ok') {
      d.log.info(`Diego response: ${last.status} ${last.summary}`, { ...fields, attempt, httpStatus: last.status, durationMs });
      break;
    }
    const cutByDeadline = last.outcome === 'timeout' && (timeoutMs < d.diegoTimeoutMs || job.cut?.aborted === true);
    const step = cutByDeadline ? ({ kind: 'stop', reason: 'deadline' } as const) : nextStep(last, attempt, finishedAt, job.deadline, d.retry);
    const why = `${last.outcome}${last.error ? ` (${last.error})` : ''}`;
    if (step.kind === 'retry') {
      d.log.warn(`Attempt ${attempt}/${d.retry.attempts} failed: ${why}; retrying in ${step.delayMs} ms`, { ...fields, attempt, outcome: last.outcome, httpStatus: last.status, delayMs: step.delayMs });
      await d.clock.sleep(step.delayMs, abort);
    } else if (step.kind === 'stop') {
      if (step.reason !== 'exhausted' || attempt < d.retry.attempts) d.log.warn(`Attempt ${attempt}/${d.retry.attempts} failed: ${why}`, { ...fields, attempt, outcome: last.outcome, httpStatus: last.status });
      stop = step.reason;
    }
  }
  if (ready) {
    // The prepared attempt never went out (passed over, or a stop before its slot): its row says so.
    attempt++;
    const error = `not sent: ${passedOver(stop) ? UNSENT[stop].attempt : 'stopped before its slot'}`;
    await d.store.finishAttempt(ready.id, { finishedAt: d.clock.now(), durationMs: 0, outcome: 'aborted', error });
    run.attempts.push({ outcome: 'aborted', durationMs: 0 });
  }
  return { stop, last, count: attempt };
}

/** Records how the cycle ended and says it in the log. */
async function closeCycle(run: Running, d: CycleDeps, stop: StopReason | undefined, last: AttemptResult | undefined, attempts: number, abortReason: unknown): Promise<CycleResult> {
  const { id, job, fields } = run;
  const finishedAt = d.clock.now();
  // A cycle prepared for a slot it never reached ends before it started: it lasted nothing.
  const ended = (status: EndedCycle['status'], reason?: string): EndedCycle => ({ status, reason, trigger: job.trigger, finishedAt, durationMs: Math.max(0, finishedAt - run.startedAt), attempts: run.attempts });
  if (stop === undefined && last?.outcome === 'ok') {
    await d.store.finishCycle(id, { finishedAt, status: 'succeeded', attempts, httpStatus: last.status, summary: last.brief, executed: last.executed });
    d.log.info(`Scalping cycle completed successfully${d.label}`, { ...fields, attempts, durationMs: finishedAt - job.slot });
    return { id, status: 'succeeded', attempts, ended: ended('succeeded') };
  }
  const verdict = cycleVerdict(stop ?? 'exhausted', last, abortReason);
  const error =
    verdict.reason === 'deadline'
      ? `deadline: the next slot ${new Date(job.deadline).toISOString()} came before an answer${last?.error ? `; last error: ${last.error}` : ''}`
      : verdict.reason === 'shutdown'
        ? 'interrupted by shutdown'
        : verdict.status === 'interrupted'
          ? 'interrupted by pause --abort'
          : passedOver(stop)
            ? UNSENT[stop].cycle
            : (last?.error ?? last?.outcome ?? 'no attempt');
  await d.store.finishCycle(id, { finishedAt, status: verdict.status, attempts, reason: verdict.reason, error, httpStatus: last?.status, summary: last?.brief, executed: false });
  const message =
    verdict.status === 'interrupted'
      ? `Scalping cycle ${recordLabel(id)} ${error} after ${attempts} attempt(s)${d.label}`
      : verdict.reason === 'deadline'
        ? `Scalping cycle ${recordLabel(id)} failed after ${attempts} attempt(s): stopped at its deadline, the next slot (${new Date(job.deadline).toISOString()}); the cron pattern may be too tight for Diego${d.label}`
        : `Scalping cycle ${recordLabel(id)} failed after ${attempts} attempt(s): ${error}${d.label}`;
  if (verdict.status === 'skipped') d.log.warn(`Slot ${fields.slot} passed over: ${error}${d.label}`, { ...fields, reason: verdict.reason, status: verdict.status });
  else d.log.error(message, { ...fields, attempts, reason: verdict.reason, status: verdict.status });
  return { id, status: verdict.status, reason: verdict.reason, attempts, ended: ended(verdict.status, verdict.reason) };
}
