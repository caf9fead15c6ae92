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
  ntpServer: { host: string; port: number };
  clockCheckIntervalMs: number;
  clockSkewWarnMs: number;
  clockSkewMaxMs: number | undefined;
}

/** What the agent knows of its clock: the last measurement, and whether slots must not fire. */
export interface ClockHealth {
  /** The last measurement, when the server answered. */
  readonly last: (ClockSample & { at: number; source: string }) | undefined;
  /** The offset is above CLOCK_SKEW_MAX_MS: slots are recorded skipped (`clock_skew`) until it is back. */
  readonly blocked: boolean;
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
 * PostgreSQL server's clock). Off the slot's path: the agent only reads `blocked`. An unreachable server is logged
 * once per outage and never blocks a slot.
 */
export function startClockCheck(
  s: ClockCheckSettings,
  deps: { clock: Clock; log: Logger; stop: AbortSignal; events: ClockEvents; query?: () => Promise<ClockSample>; extra?: { name: string; measure(): Promise<ClockSample> }[] },
): { health: ClockHealth; done: Promise<void> } {
  const { clock, log, stop, events } = deps;
  const source = `${s.ntpServer.host}:${s.ntpServer.port}`;
  const query = deps.query ?? (() => queryNtp(s.ntpServer, clock));
  let last: ClockHealth['last'];
  let blocked = false;
  let skewed = false;
  const reach = spell(log, (why) => `Clock check: NTP server ${source} did not answer (${why}); slots keep firing, retrying every ${formatDuration(s.clockCheckIntervalMs)}`, `Clock check: NTP server ${source} answers again`);
  const health: ClockHealth = {
    get last() {
      return last;
    },
    get blocked() {
      return blocked;
    },
  };
  const say = (ms: number) => `${ms >= 0 ? '+' : '-'}${formatDuration(Math.abs(ms))}`;

  const check = async () => {
    let sample: ClockSample;
    try {
      sample = await query();
    } catch (err) {
      reach.failed(err);
      if (blocked) log.warn('Clock check: firing again, since the clock can no longer be checked');
      blocked = false;
      return;
    }
    reach.ok();
    last = { ...sample, at: clock.now(), source };
    events.measured(last);
    const verdict = judgeOffset(sample.offsetMs, s);
    const line = `clock offset ${say(sample.offsetMs)} against ${source} (round trip ${formatDuration(sample.rttMs)})`;
    if (verdict.skewed !== skewed || verdict.blocking !== blocked) {
      if (verdict.blocking) log.error(`Clock check: ${line} is above CLOCK_SKEW_MAX_MS=${s.clockSkewMaxMs}: no slot fires until it is back (recorded skipped, reason clock_skew)`);
      else if (verdict.skewed) log.warn(`Clock check: ${line} is above CLOCK_SKEW_WARN_MS=${s.clockSkewWarnMs}; exchanges reject requests outside their receive window`);
      else log.info(`Clock check: ${line}: back within CLOCK_SKEW_WARN_MS=${s.clockSkewWarnMs}${blocked ? '; slots fire again' : ''}`);
      events.skew({ ...verdict, offsetMs: sample.offsetMs });
    } else log.info(`Clock check: ${line}`, { offsetMs: sample.offsetMs, rttMs: sample.rttMs });
    skewed = verdict.skewed;
    blocked = verdict.blocking;
    for (const e of deps.extra ?? []) {
      try {
        const other = await e.measure();
        log.info(`Clock check: offset ${say(other.offsetMs)} against ${e.name} (round trip ${formatDuration(other.rttMs)})`, { source: e.name, offsetMs: other.offsetMs, rttMs: other.rttMs });
      } catch (err) {
        log.debug(`Clock check against ${e.name} failed: ${errorLine(err)}`);
      }
    }
  };
  const done = (async () => {
    await check();
    await every(clock, stop, s.clockCheckIntervalMs, check);
  })();
  return { health, done };
}
