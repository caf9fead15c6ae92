import type { AttemptResult, PreparedAttempt } from '../diego/client.ts';
import { traceparent } from '../diego/trace.ts';
import { errorLine } from '../log/error-line.ts';
import { nextStep } from './retry-policy.ts';
import { recordLabel, traceIdOf } from '../records.ts';
import { closingError, CUT_BY_PAUSE, cycleVerdict, passedOver, UNSENT, type Release, type StopReason } from './cycle-verdict.ts';
import { checkLateSend, checkRetry, claimDecision, LATE_SEND_MS } from './send-check.ts';
import { executionOffOf, stricter, type SlotDecision } from './slot-decision.ts';

export { cycleVerdict, CUT_BY_PAUSE, type Release } from './cycle-verdict.ts';

/**
 * A prepared cycle's gate: resolves with the release at its slot. The cycle may hang `atBoundary` on it, which the
 * agent calls synchronously at the boundary just before resolving it with `fire`: the on-time request is written
 * there and then, with no promise hop between the scheduler's wake-up and the write.
 */
export type Gate = Promise<Release> & { atBoundary?: () => void };
export type { CycleDeps, CycleJob, CycleResult, EndedCycle } from './cycle-types.ts';
import type { CycleDeps, CycleJob, CycleResult, EndedCycle, Running } from './cycle-types.ts';

/**
 * Runs one cycle: claims the slot, sends up to `retry.attempts` POSTs sharing one Idempotency-Key, and records
 * the cycle and every attempt as it starts and ends, so a crash leaves evidence. `abort` cuts it at shutdown.
 * Given `release`, the cycle is prepared ahead of its slot: the claim and the first attempt's row are written at
 * once, and the first POST leaves as soon as `release` says `fire` (at the boundary), no database write between.
 */
export async function runCycle(job: CycleJob, d: CycleDeps, abort: AbortSignal, release?: Gate): Promise<CycleResult> {
  const idempotencyKey = d.newId();
  const traceId = traceIdOf(idempotencyKey);
  // Claimed ahead of its slot, a cycle still starts at the slot: that is when its request leaves, never before.
  const startedAt = Math.max(job.slot, d.clock.now());
  const claimed = await claim(job, d, idempotencyKey, startedAt, release);
  if (typeof claimed !== 'number') return claimed;
  const id = claimed;
  const fields = { cycle: id, symbol: job.symbol, timeframe: d.timeframe, trigger: job.trigger, slot: new Date(job.slot).toISOString(), idempotencyKey, traceId }; // what Diego logs
  let announced = false;
  const announce = () => {
    if (!announced) d.log.info(`Starting scalping cycle ${recordLabel(id)}${d.label} with Idempotency-Key ${idempotencyKey}`, fields);
    announced = true;
  };
  const run: Running = { id, job, traceId, startedAt, fields, announce, attempts: [] };
  const answer = d.store.claimAnswer(id);
  if (answer?.paused !== undefined) return pausedAtClaim(run, d, answer.paused, release);
  const sent = await sendAttempts(run, d, idempotencyKey, abort, claimDecision(answer, job.executionOff), release);
  if (!passedOver(sent.stop)) announce();
  return closeCycle(run, d, sent, sent.abortReason ?? abort.reason);
}

/**
 * The claim's own statement found a pause of cycles in force (the agent's copy had not seen it yet): the row is
 * already `skipped` (reason `paused`); nothing is sent. A prepared cycle says so at its slot, as a fired one would.
 */
async function pausedAtClaim(run: Running, d: CycleDeps, why: string, release?: Promise<Release>): Promise<CycleResult> {
  await release;
  d.log.info(`Slot ${run.fields.slot} skipped${d.label}: ${why} (read with the claim)`, { ...run.fields, reason: 'paused' });
  const finishedAt = d.clock.now();
  return { id: run.id, status: 'skipped', reason: 'paused', attempts: 0, ended: { status: 'skipped', reason: 'paused', trigger: run.job.trigger, finishedAt, durationMs: 0, attempts: [] } };
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

/** What the attempts loop leaves for the closing: why it stopped, the last answer, how many attempts, and why not sent. */
interface Sent {
  stop: StopReason | undefined;
  last: AttemptResult | undefined;
  count: number;
  /** A send the slot decision held back: why (the closing's error line). */
  why?: string;
  /** Given when a retry was cut by `pause --execution --abort`: the abort reason the verdict reads. */
  abortReason?: unknown;
  executionOff?: string; // why the last attempt sent left analysis-only: the cycle's row says it at its end
}

/** The attempts loop: POSTs until an answer is ok, the retry policy stops, the deadline comes or the agent stops. */
async function sendAttempts(run: Running, d: CycleDeps, idempotencyKey: string, abort: AbortSignal, claimed: SlotDecision, release?: Gate): Promise<Sent> {
  const { id, job } = run;
  const openAttempt = async (number: number, startedAt: number) => {
    const requestId = d.newId();
    return { id: await d.store.startAttempt({ cycleId: id, number, requestId, startedAt }), requestId, startedAt };
  };
  // Prepared ahead: the first attempt's row is written before the slot too, then the request waits for it.
  let ready = release ? await openAttempt(1, Math.max(job.slot, d.clock.now())) : undefined;
  // …and the request itself, up to its write (headers, body, signal, a connection): at the boundary only the write.
  let held = ready && prepareAttempt(run, d, { idempotencyKey, abort, sent: ready, executionOff: executionOffOf(claimed) });
  if (held && release) release.atBoundary = writeOnTime(run, d, held, abort, claimed);
  const go = release ? await release : 'fire';
  const out: Sent = { stop: go === 'fire' ? undefined : go === 'shutdown' ? 'aborted' : go, last: undefined, count: 0 };
  // The copy's word at the boundary (no read), never laxer than the claim's: the on-time path.
  let decision: SlotDecision = held?.went?.decision ?? (go === 'fire' && job.check ? stricter(job.check.atSlot(), claimed) : claimed);
  let executionOn = false;
  while (out.stop === undefined) {
    const now = d.clock.now();
    // Written at the boundary already (writeOnTime): the request is out, whatever came since.
    const early = held?.went !== undefined;
    if (!early && abort.aborted) out.stop = 'aborted';
    // Nothing sent and the next slot already due (a forward clock step): passed over, not failed.
    else if (!early && now >= job.deadline) out.stop = out.count === 0 ? 'missed' : 'deadline';
    if (out.stop) break;
    const number = out.count + 1;
    const sent = ready ?? (await openAttempt(number, now));
    ready = undefined;
    // Every attempt leaves with the flag in force when it leaves: a late first one, and every retry, ask the database.
    // (One written at the boundary was decided there, on time: nothing to re-check.)
    if (number === 1) {
      if (!early) {
        const checked = await checkLateSend(job.slot, decision, job.check, d.clock);
        decision = checked.decision;
        if (checked.late !== undefined) d.log.info(`Slot ${run.fields.slot} ${checked.late} ms late: control state re-read from the database before sending (${decisionLine(decision)})${d.label}`, { ...run.fields, lateMs: checked.late });
      }
    } else decision = await checkRetry(now, decision, job.check, executionOn);
    if (decision.kind === 'skip') {
      ready = sent; // its row says it was not sent
      out.why = decision.why;
      // A retry cut by `pause --execution --abort` is interrupted like a `pause --abort`; a first one is not sent.
      if (number > 1) [out.stop, out.abortReason] = ['aborted', CUT_BY_PAUSE];
      else out.stop = decision.reason === 'shutdown' || decision.reason === 'unclaimed' ? 'aborted' : decision.reason;
      break;
    }
    out.count = number;
    const executionOff: string | undefined = executionOffOf(decision);
    if (number === 1) executionOn = d.triggerExecution && executionOff === undefined;
    if (executionOff !== undefined) out.executionOff = executionOff;
    // The prepared request goes as prepared unless the decision at the boundary changed its body (a kill switch).
    if (held && held.executionOff !== executionOff) held = void held.attempt.cancel();
    const prepared = held ?? prepareAttempt(run, d, { idempotencyKey, abort, sent, executionOff });
    held = undefined;
    const step = await sendOne(run, d, number, prepared);
    out.last = step.last;
    if (step.stop !== undefined) out.stop = step.stop;
    if (step.done) break;
  }
  held?.attempt.cancel();
  if (ready) {
    // The attempt never went out (passed over, a stop before its slot, held back by the slot decision): its row says so.
    out.count++;
    const error = `not sent: ${out.why ?? (passedOver(out.stop) ? UNSENT[out.stop].attempt : 'stopped before its slot')}`;
    await d.store.finishAttempt(ready.id, { finishedAt: d.clock.now(), durationMs: 0, outcome: 'aborted', error });
    run.attempts.push({ outcome: 'aborted', durationMs: 0 });
  }
  return out;
}

/** A decision in a few words, for the log. */
const decisionLine = (d: SlotDecision): string => (d.kind === 'skip' ? `not sent: ${d.reason}` : d.execution ? 'execution on' : `execution off: ${d.why}`);

/**
 * The on-time write, called synchronously at the boundary (Gate): the slot decision from the copy, as the async path
 * would take it, and when it fires with the body prepared, the write. Late (past LATE_SEND_MS, or MAX_LATENESS_MS when
 * tighter), past the deadline, stopped, or a decision that changed the body: nothing here, the async path decides
 * (re-reading if late).
 */
function writeOnTime(run: Running, d: CycleDeps, held: Prepared, abort: AbortSignal, claimed: SlotDecision): () => void {
  const { job } = run;
  // A MAX_LATENESS_MS below LATE_SEND_MS is the tighter bound: past it the async path records the slot `late`.
  const onTime = Math.min(LATE_SEND_MS, job.check?.maxLatenessMs ?? LATE_SEND_MS);
  return () => {
    const now = d.clock.now();
    if (abort.aborted || now - job.slot > onTime || now >= job.deadline) return;
    const decision = job.check ? stricter(job.check.atSlot(), claimed) : claimed;
    if (decision.kind !== 'fire' || executionOffOf(decision) !== held.executionOff) return;
    held.went = { ...held.attempt.send(), decision };
  };
}

/** An attempt prepared up to its write (client.ts), with what its log lines and its closing need. */
interface Prepared {
  attempt: PreparedAttempt;
  /** Written at the boundary by writeOnTime: when, its answer, and the decision it went out on. */
  went?: { sentAt: number; result: Promise<AttemptResult>; decision: SlotDecision };
  sent: { id: number; requestId: string; startedAt: number };
  body: { symbol: string; timeframe: string; triggerExecution: boolean };
  executionOff: string | undefined;
  timeoutMs: number;
  idempotencyKey: string;
  abort: AbortSignal;
}

/** Prepares an attempt's request (no I/O but taking a connection): the cycle's trace, a new span. */
function prepareAttempt(run: Running, d: CycleDeps, a: Pick<Prepared, 'idempotencyKey' | 'abort' | 'sent' | 'executionOff'>): Prepared {
  const { job } = run;
  const body = { symbol: job.symbol, timeframe: d.timeframe, triggerExecution: d.triggerExecution && a.executionOff === undefined };
  // The attempt must end by the deadline: cut its timeout, and remember that the deadline did the cutting. (From the
  // attempt's recorded start; a late send's re-check in between is cut at the boundary by `job.cut` all the same.)
  const timeoutMs = Math.min(d.diegoTimeoutMs, job.deadline - a.sent.startedAt);
  const attempt = d.client.prepare(body, { idempotencyKey: a.idempotencyKey, requestId: a.sent.requestId, timeoutMs, signal: a.abort, deadline: job.cut, scheduledAt: job.slot, traceparent: traceparent(run.traceId) });
  return { ...a, attempt, body, timeoutMs };
}

/** One attempt: sends, records its end, and says whether to go on (after the retry delay) or why to stop. */
async function sendOne(run: Running, d: CycleDeps, attempt: number, p: Prepared): Promise<{ last: AttemptResult; stop?: StopReason; done: boolean }> {
  const { job, fields } = run;
  const { sent, executionOff, body, timeoutMs } = p;
  // Precision-critical: the request is written before anything else runs; the log lines follow it. `sentAt`, when
  // it left (for `stats`' fire lateness), is its X-Sent-At stamp, written with the attempt's finish below.
  const { sentAt, result: answer } = p.went ?? p.attempt.send();
  const tag = d.label === '' ? '' : ` (cycle ${recordLabel(run.id)}, ${job.symbol})`; // several symbols' lines interleave
  run.announce();
  if (attempt === 1) d.onStarted?.();
  d.log.info(`Calling Diego analysis endpoint...${attempt > 1 ? ` (attempt ${attempt}/${d.retry.attempts})` : ''}${executionOff ? ` (triggerExecution false: ${executionOff})` : ''}${tag}`, { ...fields, attempt, requestId: sent.requestId });
  const last = await answer;
  d.log.debug(`Attempt ${attempt} of cycle ${recordLabel(run.id)} (Idempotency-Key ${p.idempotencyKey}, deadline ${new Date(job.deadline).toISOString()}): request ${sent.requestId} sent ${body.symbol} ${body.timeframe} triggerExecution=${body.triggerExecution}, timeout ${timeoutMs} ms; ${last.outcome} after ${d.clock.now() - sent.startedAt} ms`, { ...fields, attempt, requestId: sent.requestId, timeoutMs });
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
    d.log.info(`Diego response: ${last.status} ${last.summary}${tag}`, { ...fields, attempt, httpStatus: last.status, durationMs });
    return { last, done: true };
  }
  const cutByDeadline = last.outcome === 'timeout' && (timeoutMs < d.diegoTimeoutMs || job.cut?.aborted === true);
  const step = cutByDeadline ? ({ kind: 'stop', reason: 'deadline' } as const) : nextStep(last, attempt, finishedAt, job.deadline, d.retry);
  const why = `${last.outcome}${last.error ? ` (${last.error})` : ''}`;
  if (step.kind === 'retry') {
    d.log.warn(`Attempt ${attempt}/${d.retry.attempts} failed: ${why}; retrying in ${step.delayMs} ms${tag}`, { ...fields, attempt, outcome: last.outcome, httpStatus: last.status, durationMs, delayMs: step.delayMs });
    await d.clock.sleep(step.delayMs, p.abort);
    return { last, done: false };
  }
  if (step.kind === 'stop') {
    if (step.reason !== 'exhausted' || attempt < d.retry.attempts) d.log.warn(`Attempt ${attempt}/${d.retry.attempts} failed: ${why}${tag}`, { ...fields, attempt, outcome: last.outcome, httpStatus: last.status, durationMs });
    return { last, stop: step.reason, done: true };
  }
  return { last, done: false };
}
/** Records how the cycle ended and says it in the log. */
async function closeCycle(run: Running, d: CycleDeps, sent: Sent, abortReason: unknown): Promise<CycleResult> {
  const { id, job, fields } = run;
  const { stop, last, count: attempts } = sent;
  const finishedAt = d.clock.now();
  // A cycle prepared for a slot it never reached ends before it started: it lasted nothing.
  const ended = (status: EndedCycle['status'], reason?: string): EndedCycle => ({ status, reason, symbol: job.symbol, timeframe: d.timeframe, trigger: job.trigger, finishedAt, durationMs: Math.max(0, finishedAt - run.startedAt), attempts: run.attempts });
  if (stop === undefined && last?.outcome === 'ok') {
    await d.store.finishCycle(id, { finishedAt, status: 'succeeded', attempts, httpStatus: last.status, summary: last.brief, executed: last.executed, executionFailed: last.executionFailed, executionOff: sent.executionOff });
    d.log.info(`Scalping cycle completed successfully${d.label}`, { ...fields, attempts, durationMs: finishedAt - job.slot, status: 'succeeded' });
    return { id, status: 'succeeded', attempts, ended: { ...ended('succeeded'), executed: last.executed, executionFailed: last.executionFailed === true } };
  }
  const verdict = cycleVerdict(stop ?? 'exhausted', last, abortReason);
  const noTime = stop === 'no_time_for_retry';
  const error = closingError(verdict, stop, last, { deadline: job.deadline, delayMs: d.retry.delayMs, why: sent.why });
  await d.store.finishCycle(id, { finishedAt, status: verdict.status, attempts, reason: verdict.reason, error, httpStatus: last?.status, summary: last?.brief, executed: false, executionOff: sent.executionOff });
  const message =
    verdict.status === 'interrupted'
      ? `Scalping cycle ${recordLabel(id)} ${error} after ${attempts} attempt(s)${d.label}`
      : verdict.reason === 'deadline' && !noTime
        ? `Scalping cycle ${recordLabel(id)} failed after ${attempts} attempt(s): stopped at its deadline, the next slot (${new Date(job.deadline).toISOString()}); the cron pattern may be too tight for Diego${d.label}`
        : `Scalping cycle ${recordLabel(id)} failed after ${attempts} attempt(s): ${error}${d.label}`;
  (verdict.status === 'skipped' ? d.log.warn : d.log.error)(verdict.status === 'skipped' ? `Slot ${fields.slot} passed over: ${error}${d.label}` : message, { ...fields, attempts, durationMs: Math.max(0, finishedAt - job.slot), reason: verdict.reason, status: verdict.status });
  return { id, status: verdict.status, reason: verdict.reason, attempts, ended: ended(verdict.status, verdict.reason) };
}
