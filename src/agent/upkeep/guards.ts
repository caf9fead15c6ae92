import type { Kysely } from 'kysely';
import { capReached, capReason, countFrom, streakReached, type CapReached } from '../../control/guard-rules.ts';
import { guardOff, lastExecutionResume, lastOutcomes, ordersSince, type GuardTrip } from '../../control/guard-store.ts';
import { ALL_SYMBOLS, pollDelay } from '../../control/state.ts';
import { errorLine } from '../../log/error-line.ts';
import type { Logger } from '../../log/logger.ts';
import type { Schema } from '../../store/schema.ts';
import type { Clock } from '../../time/clock.ts';
import type { CronPattern } from '../../time/cron-pattern.ts';
import type { EndedCycle } from '../cycle.ts';

/** The guard settings the cycle-end guards use (undefined: that guard is off). */
export interface CycleGuardSettings {
  maxOrdersPerHour: number | undefined;
  maxOrdersPerHourPerSymbol: number | undefined;
  executionOffAfterFailures: number | undefined;
}

/**
 * The guards that look at cycles as they end (issue 22 §2): the orders caps after a cycle whose answer says an order
 * was placed, the failure streak after a failed one. Each counts from the database, every replica's cycles, and
 * turns execution off through guardOff (once among replicas). They run after the cycle, one check at a time, and
 * keep clear of the next slot (pollDelay), so no slot waits on them. A check that cannot read the database says so
 * and leaves execution as it is: the next cycle checks again.
 */
export function startCycleGuards(d: { db: Kysely<Schema>; settings: CycleGuardSettings; cron: Pick<CronPattern, 'next' | 'latest'>; clock: Clock; log: Logger; stop: AbortSignal }) {
  const { db, settings: s, clock, log } = d;
  let chain: Promise<void> = Promise.resolve();

  const trip = async (t: GuardTrip) => {
    const auditId = await guardOff(db, t);
    if (auditId === undefined) log.debug(`Guard ${t.guard} (${t.symbol}): execution already off by it`);
    else log.error(`Guard ${t.guard}: execution OFF (${t.symbol === ALL_SYMBOLS ? 'all symbols' : t.symbol}), analysis only until a person runs resume --execution: ${t.reason} (audit #${auditId})`, { guard: t.guard, symbol: t.symbol, ...t.figures });
  };
  const tripCap = (c: CapReached, now: number) =>
    trip({ guard: 'orders_cap', symbol: c.symbol, reason: capReason(c), figures: { orders: c.orders, cap: c.cap, setting: c.setting, from: new Date(c.from).toISOString() }, at: now });

  const checkOrders = async (symbol: string) => {
    const now = clock.now();
    if (s.maxOrdersPerHour !== undefined) {
      const from = countFrom(now, await lastExecutionResume(db, ALL_SYMBOLS));
      const all = capReached(ALL_SYMBOLS, await ordersSince(db, from), s.maxOrdersPerHour, from);
      if (all) await tripCap(all, now);
    }
    if (s.maxOrdersPerHourPerSymbol !== undefined) {
      const from = countFrom(now, await lastExecutionResume(db, symbol));
      const one = capReached(symbol, await ordersSince(db, from, symbol), s.maxOrdersPerHourPerSymbol, from);
      if (one) await tripCap(one, now);
    }
  };
  const checkStreak = async (symbol: string, n: number) => {
    const failed = await lastOutcomes(db, symbol, await lastExecutionResume(db, symbol), n);
    if (!streakReached(failed, n)) return;
    const reason = `${n} cycle(s) of ${symbol} in a row failed or their order failed (EXECUTION_OFF_AFTER_FAILURES=${n})`;
    await trip({ guard: 'failures', symbol, reason, figures: { failures: n, setting: 'EXECUTION_OFF_AFTER_FAILURES' }, at: clock.now() });
  };

  const check = async (e: EndedCycle) => {
    const symbol = e.symbol!;
    const wait = pollDelay(d.cron, clock.now());
    if (wait > 0) await clock.sleep(wait, d.stop).catch(() => undefined);
    try {
      if (e.executed === true) await checkOrders(symbol);
      if (s.executionOffAfterFailures !== undefined && (e.status === 'failed' || e.executionFailed === true)) await checkStreak(symbol, s.executionOffAfterFailures);
    } catch (err) {
      log.warn(`Guard rails could not read the database after a cycle of ${symbol} (${errorLine(err)}); execution stays as it is, the next cycle checks again`);
    }
  };

  const caps = s.maxOrdersPerHour !== undefined || s.maxOrdersPerHourPerSymbol !== undefined;
  return {
    /** After a cycle ended (never awaited by it). */
    cycleEnded(e: EndedCycle): void {
      if (e.symbol === undefined) return;
      const orders = caps && e.executed === true;
      const failure = s.executionOffAfterFailures !== undefined && (e.status === 'failed' || e.executionFailed === true);
      if (orders || failure) chain = chain.then(() => check(e));
    },
    /** The checks under way, for the stop. */
    idle: () => chain,
  };
}
