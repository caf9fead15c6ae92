import { errorLine } from '../../log/error-line.ts';
import { escapeJson } from '../../log/escape.ts';
import { recordLabel } from '../../records.ts';
import { UNCLAIMED } from '../history/history-store.ts';
import type { NewCycle } from '../port.ts';
import type { OutageReport } from './outage.ts';
import { recordOf } from './queued-write.ts';
import * as J from './state.ts';
import type { Clock } from '../../time/clock.ts';
import type { Logger } from '../../log/logger.ts';
import type { SideFile } from './side-file.ts';

// The write queue's effects (state.ts says which, in order): the callers' promises, the dump, the side file, the
// connection's lock waits and every log line of the queue.

/** How the queue's lines name a slot. */
export const slotName = (c: NewCycle) => `${new Date(c.scheduledAt).toISOString()} of ${c.symbol}`;

/** The slice of WriteQueueOptions the effects use. */
export interface EffectOptions {
  log: Logger;
  clock: Clock;
  dump: (line: string) => void;
  redact: (text: string) => string;
  sideFile?: SideFile;
  lockWaits?: (wait: boolean) => Promise<void>;
  onOutage?: (error: string) => void;
}

/** What runEffect needs of the driver. */
export interface EffectContext {
  opts: EffectOptions;
  outage: OutageReport;
  waiters: Map<number, { resolve(value: unknown): void; reject(err: unknown): void }>;
  driver: { state: J.JournalState };
  backoffMs(): number;
}

/** Carries out one effect of a transition: I/O and log lines only. */
export function runEffect(e: J.Effect, c: EffectContext): void {
  const { log, clock } = c.opts;
  switch (e.kind) {
    case 'answer':
    case 'reject': {
      const w = c.waiters.get(e.seq);
      c.waiters.delete(e.seq);
      if (e.kind === 'answer') w?.resolve(e.value);
      else w?.reject(e.error);
      return;
    }
    case 'dump': {
      const line = { time: new Date(clock.now()).toISOString(), level: 'error', component: 'store', msg: 'unwritten record', reason: e.reason, ...(e.detail ? { detail: e.detail } : {}), write: e.write.kind, record: recordOf(e.write) };
      c.opts.dump(c.opts.redact(escapeJson(JSON.stringify(line)))); // the record may quote Diego: JSON, safe on a terminal
      return;
    }
    case 'keepAside':
      // After a failed append the file ends in a torn line, where a replay stops: what follows would be lost anyway.
      if (!c.opts.sideFile || c.driver.state.aside === 'failed') return;
      try {
        c.opts.sideFile.append(e.write);
      } catch (err) {
        log.error(`Could not write the side file ${c.opts.sideFile.path} (${errorLine(err)}): queued records are in memory only until the database is back`);
        c.driver.state = J.asideFailed(c.driver.state);
      }
      return;
    case 'clearAside':
      c.opts.sideFile?.clear(); // every write it held is in the database now
      return;
    case 'lockWaits':
      // A setting on the connection, not a write: it works during an outage; a failure only costs the faster retries.
      void c.opts.lockWaits?.(e.wait).catch((err) => log.debug(`Could not ${e.wait ? 'restore' : 'lift'} the busy timeout: ${errorLine(err)}`));
      return;
    case 'outageBegins':
    case 'outageGoesOn':
      c.outage.fault(errorLine(e.error), clock.now(), { queued: c.driver.state.queue.length, backoffMs: c.backoffMs() });
      if (e.kind === 'outageBegins') c.opts.onOutage?.(errorLine(e.error));
      return;
    case 'outageEnds':
      c.outage.recovered(clock.now());
      return;
    case 'dropped':
      c.outage.dropped(e.count);
      return;
    case 'writtenLate':
      c.outage.written();
      return;
    default:
      return sayWhatHappened(e, c);
  }
}

/** The log lines of what became of a queued write. */
function sayWhatHappened(e: Extract<J.Effect, { kind: 'conflict' | 'recorded' | 'voidClosed' | 'interruptedMarked' | 'refused' }>, c: EffectContext): void {
  const { log } = c.opts;
  switch (e.kind) {
    case 'conflict': {
      const w = e.write;
      c.outage.conflict();
      log.error(
        `Slot ${slotName(w.cycle)} was claimed by another agent while the database was unavailable, ` +
          `but this agent had already fired it as cycle ${recordLabel(w.temp)} (Idempotency-Key ${w.cycle.idempotencyKey}): Diego may have been called twice; ` +
          'its records follow on stderr as JSON',
        { symbol: w.cycle.symbol, slot: new Date(w.cycle.scheduledAt).toISOString() },
      );
      return;
    }
    case 'recorded':
      log.info(`Queued cycle ${recordLabel(e.temp)} recorded as ${recordLabel(e.id)}`, { cycle: e.id, provisional: recordLabel(e.temp) });
      return;
    case 'voidClosed':
      log.info(`The claim of slot ${slotName(e.write.cycle)} had been written: its row is now skipped (${UNCLAIMED})`, { symbol: e.write.cycle.symbol });
      return;
    case 'interruptedMarked':
      log.warn(`Marked ${String(e.count)} cycle(s) left running by a stopped agent as interrupted`);
      return;
    case 'refused':
      log.error(`A queued ${e.write.kind} was refused by the database; its record follows on stderr as JSON`, {}, e.error);
      return;
  }
}
