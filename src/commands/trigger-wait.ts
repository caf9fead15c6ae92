import type { Kysely } from 'kysely';
import { applyControl } from '../control/apply.ts';
import { manualCycles, triggerState } from '../control/control-store.ts';
import { queryCycle } from '../store/history/history-query.ts';
import { renderCycleDetail } from '../reports/render-history.ts';
import { colorsFor } from '../reports/render-text.ts';
import type { Schema } from '../store/schema.ts';
import type { CommandContext } from './context.ts';

/** How often `--wait` looks at the request and its cycles. */
const WAIT_POLL_MS = 100;
/** Taken, its cycle rows must appear by then (they are the first thing the agent writes); else it says so. */
const CLAIM_WAIT_MS = 10_000;

/** `--wait`: until the request is taken and its cycles ended, or it expired. */
export async function waitFor(ctx: CommandContext, db: Kysely<Schema>, id: number, expected: number, by: string): Promise<number> {
  for (;;) {
    const r = await triggerState(db, id);
    if (r.state === 'pending' && ctx.clock.now() >= Number(r.expires_at)) {
      // No agent is left to expire it (they all died since): this command does, so it can never fire late.
      const expired = { kind: 'trigger_expired', request: { id, symbol: r.symbol, expiresAt: Number(r.expires_at) }, by, args: { request: id, expiresAt: new Date(Number(r.expires_at)).toISOString() } } as const;
      await applyControl(db, expired, () => ctx.clock.now());
      continue;
    }
    if (r.state === 'expired') {
      ctx.err(`pmf-scheduler: Run-now request #${id} expired: no agent took it by ${new Date(Number(r.expires_at)).toISOString()}; not fired`);
      return 1;
    }
    if (r.state === 'taken') {
      ctx.out(`Taken by ${r.taken_by} at ${new Date(Number(r.slot)).toISOString()}`);
      return waitForCycles(ctx, db, Number(r.slot), expected);
    }
    await ctx.clock.sleep(WAIT_POLL_MS);
  }
}

async function waitForCycles(ctx: CommandContext, db: Kysely<Schema>, slot: number, expected: number): Promise<number> {
  const claimBy = ctx.clock.now() + CLAIM_WAIT_MS;
  for (;;) {
    const cycles = await manualCycles(db, slot);
    if (cycles.length >= expected && cycles.every((c) => c.status !== 'running')) {
      const c = colorsFor(ctx.colors);
      for (const cycle of cycles) {
        const found = await queryCycle(db, Number(cycle.id));
        if (found) ctx.out(renderCycleDetail(found, c));
      }
      return cycles.every((x) => x.status === 'succeeded') ? 0 : 1;
    }
    if (cycles.length < expected && ctx.clock.now() > claimBy) {
      ctx.err(`pmf-scheduler: The agent took the request but recorded ${cycles.length} of ${expected} cycle(s) within ${CLAIM_WAIT_MS / 1000} s (it may have died); see \`pmf-scheduler history --trigger manual\``);
      return 1;
    }
    await ctx.clock.sleep(WAIT_POLL_MS);
  }
}
