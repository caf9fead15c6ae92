import { createSocket } from 'node:dgram';
import { isIP } from 'node:net';
import { errorLine } from '../../log/error-line.ts';
import type { Logger } from '../../log/logger.ts';
import { spell } from '../../log/spell.ts';
import type { Clock } from '../../time/clock.ts';
import { formatDuration } from '../../time/durations.ts';
import { readSntpReply, sntpRequest, type ClockSample } from '../../time/sntp.ts';
import { every } from '../../time/every.ts';

/** How long one SNTP query waits for its answer. */
export const NTP_TIMEOUT_MS = 2000;

export interface ClockCheckSettings {
  /** Undefined: the clock is checked against the other sources only (EXCHANGE_TIME_URL). */
  ntpServer: { host: string; port: number } | undefined;
  clockCheckIntervalMs: number;
  clockSkewWarnMs: number;
  clockSkewMaxMs: number | undefined;
}

/** A source beside the SNTP server: `primary` (the exchange) opens a fail-closed gate as the SNTP server does. */
export interface ExtraSource {
  name: string;
  primary?: boolean;
  measure(): Promise<ClockSample>;
}

/** The clock's verdict for a slot (agent/slot-decision.ts): fire, or skip with a reason and its line. */
export type ClockVerdict = { blocked: false } | { blocked: true; reason: 'clock_skew' | 'clock_unchecked'; why: string };

/** While CLOCK_SKEW_MAX_MS holds slots back for want of a first answer, the check is tried again this often. */
export const FIRST_CHECK_RETRY_MS = 5000;

/** What the agent knows of its clock: the last measurement, and whether slots must not fire. */
export interface ClockHealth {
  /** The last measurement, when the server answered. */
  readonly last: (ClockSample & { at: number; source: string }) | undefined;
  /** Slots must not fire: the offset is above CLOCK_SKEW_MAX_MS, or (with it set) no check has answered yet. */
  readonly blocked: boolean;
  /** The same with its reason and line, as the slot decision takes it. */
  readonly verdict: ClockVerdict;
}

/** What a change of the clock's health is told to (the metrics file, the notifications, the agents row). */
export interface ClockEvents {
  measured(sample: ClockSample & { at: number; source: string }): void;
  /** The offset went above CLOCK_SKEW_WARN_MS (or above CLOCK_SKEW_MAX_MS), or came back below it. */
  skew(state: { skewed: boolean; offsetMs: number; blocking: boolean }): void;
}

/** One SNTP exchange over UDP with `server`; rejects with a one-line reason when it cannot be trusted or times out. */
export async function queryNtp(server: { host: string; port: number }, clock: Clock, timeoutMs = NTP_TIMEOUT_MS): Promise<ClockSample> {
  const socket = createSocket(isIP(server.host) === 6 ? 'udp6' : 'udp4');
  try {
    return await new Promise<ClockSample>((resolve, reject) => {
      const request = sntpRequest(clock.now());
      const timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      // A stray datagram (not an answer to this request) is ignored: the timeout ends the wait.
      socket.on('message', (reply) => {
        const read = readSntpReply(reply, request, clock.now());
        if ('error' in read) return;
        clearTimeout(timer);
        resolve(read);
      });
      socket.send(request, server.port, server.host, (err) => {
        if (err) {
          clearTimeout(timer);
          reject(err);
        }
      });
    });
  } finally {
    socket.close();
  }
}

/** The verdict on one offset (pure): above the warning threshold, and above the maximum. */
export function judgeOffset(offsetMs: number, s: Pick<ClockCheckSettings, 'clockSkewWarnMs' | 'clockSkewMaxMs'>): { skewed: boolean; blocking: boolean } {
  const off = Math.abs(offsetMs);
  return { skewed: off > s.clockSkewWarnMs, blocking: s.clockSkewMaxMs !== undefined && off > s.clockSkewMaxMs };
}

/**
 * Checks the clock against NTP_SERVER at start and every CLOCK_CHECK_INTERVAL_MS, beside `extra` sources (the
 * PostgreSQL server's clock, which counts like the SNTP one). Off the slot's path: the agent only reads `verdict`.
 * Without CLOCK_SKEW_MAX_MS an unreachable server is logged once per outage and never blocks a slot. With it the
 * clock fails closed (issue 22): no slot fires before the first answer (tried again every FIRST_CHECK_RETRY_MS
 * until then, each query bounded by NTP_TIMEOUT_MS), and while the sources are silent the last offsets known stay
 * in force.
 */
export function startClockCheck(
  s: ClockCheckSettings,
  deps: { clock: Clock; log: Logger; stop: AbortSignal; events: ClockEvents; query?: () => Promise<ClockSample>; extra?: ExtraSource[] },
): { health: ClockHealth; done: Promise<void> } {
  const { clock, log, stop, events } = deps;
  const ntp = s.ntpServer;
  const source = ntp ? `${ntp.host}:${ntp.port}` : undefined;
  const query = deps.query ?? (ntp && (() => queryNtp(ntp, clock)));
  // The sources whose first answer opens a fail-closed gate: the SNTP server and the exchange, not the database's.
  const primaries = [source, ...(deps.extra ?? []).filter((e) => e.primary).map((e) => e.name)].filter((n): n is string => n !== undefined);
  const failClosed = s.clockSkewMaxMs !== undefined;
  let last: ClockHealth['last'];
  // The last offset each source gave: the worst of them decides (a silent source keeps its last word).
  const offsets = new Map<string, number>();
  let verdict: ClockVerdict = failClosed ? { blocked: true, reason: 'clock_unchecked', why: `no clock check has answered yet (CLOCK_SKEW_MAX_MS=${s.clockSkewMaxMs} is set): slots are held until one does` } : { blocked: false };
  let skewed = false;
  const silent = failClosed ? 'slots stay held by the last offset known' : 'slots keep firing';
  const reach = spell(log, (why) => `Clock check: NTP server ${source} did not answer (${why}); ${silent}, retrying every ${formatDuration(s.clockCheckIntervalMs)}`, `Clock check: NTP server ${source} answers again`);
  if (failClosed) log.warn(`Clock check: ${verdict.blocked ? verdict.why : ''}`);
  const health: ClockHealth = {
    get last() {
      return last;
    },
    get blocked() {
      return verdict.blocked;
    },
    get verdict() {
      return verdict;
    },
  };
  const say = (ms: number) => `${ms >= 0 ? '+' : '-'}${formatDuration(Math.abs(ms))}`;
  /** The verdict on the worst offset known, told when it changes. */
  const judge = () => {
    let worst: [string, number] | undefined;
    for (const [name, off] of offsets) if (worst === undefined || Math.abs(off) > Math.abs(worst[1])) worst = [name, off];
    if (worst === undefined) return; // no answer yet: the verdict stands
    const [name, offsetMs] = worst;
    const v = judgeOffset(offsetMs, s);
    const line = `clock offset ${say(offsetMs)} against ${name}`;
    const was = verdict;
    verdict = v.blocking ? { blocked: true, reason: 'clock_skew', why: `clock offset ${Math.round(offsetMs)} ms is above CLOCK_SKEW_MAX_MS=${s.clockSkewMaxMs} (against ${name})` } : { blocked: false };
    if (v.skewed === skewed && verdict.blocked === was.blocked && !(was.blocked && was.reason === 'clock_unchecked')) return;
    if (v.blocking) log.error(`Clock check: ${line} is above CLOCK_SKEW_MAX_MS=${s.clockSkewMaxMs}: no slot fires until it is back (recorded skipped, reason clock_skew)`);
    else if (v.skewed) log.warn(`Clock check: ${line} is above CLOCK_SKEW_WARN_MS=${s.clockSkewWarnMs}; exchanges reject requests outside their receive window`);
    else log.info(`Clock check: ${line}: ${skewed ? 'back ' : ''}within CLOCK_SKEW_WARN_MS=${s.clockSkewWarnMs}${was.blocked ? '; slots fire again' : ''}`);
    if (v.skewed !== skewed || verdict.blocked !== was.blocked) events.skew({ ...v, offsetMs });
    skewed = v.skewed;
  };

  const check = async () => {
    if (query && source) {
      try {
        const sample = await query();
        reach.ok();
        last = { ...sample, at: clock.now(), source };
        events.measured(last);
        offsets.set(source, sample.offsetMs);
        log.info(`Clock check: clock offset ${say(sample.offsetMs)} against ${source} (round trip ${formatDuration(sample.rttMs)})`, { offsetMs: sample.offsetMs, rttMs: sample.rttMs });
      } catch (err) {
        reach.failed(err);
      }
    }
    for (const e of deps.extra ?? []) {
      try {
        const other = await e.measure();
        offsets.set(e.name, other.offsetMs);
        log.info(`Clock check: offset ${say(other.offsetMs)} against ${e.name} (round trip ${formatDuration(other.rttMs)})`, { source: e.name, offsetMs: other.offsetMs, rttMs: other.rttMs });
      } catch (err) {
        log.debug(`Clock check against ${e.name} failed: ${errorLine(err)}`);
      }
    }
    // Failing closed, only a primary source's first answer opens the gate; the database's counts from then on.
    if (!(failClosed && !primaries.some((p) => offsets.has(p)))) judge();
  };
  const unchecked = () => verdict.blocked && verdict.reason === 'clock_unchecked';
  const done = (async () => {
    await check();
    while (unchecked() && !stop.aborted) {
      await clock.sleep(Math.min(FIRST_CHECK_RETRY_MS, s.clockCheckIntervalMs), stop);
      if (!stop.aborted) await check();
    }
    await every(clock, stop, s.clockCheckIntervalMs, check);
  })();
  return { health, done };
}
