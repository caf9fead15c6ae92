import type { Kysely } from 'kysely';
import { manualCycles, requestTrigger, triggerState, expireTrigger } from '../control/control-store.ts';
import { liveAgents, newestAgentSymbols } from '../store/history/agent-reads.ts';
import { ALL_SYMBOLS, symbolLabel, TRIGGER_EXPIRY_MS } from '../control/state.ts';
import { DEFAULT_MAX_HEARTBEAT_AGE_MS } from '../reports/health-query.ts';
import { queryCycle } from '../store/history/history-query.ts';
import { renderCycleDetail } from '../reports/render-history.ts';
import { colorsFor } from '../reports/render-text.ts';
import type { Schema } from '../store/schema.ts';
import type { CommandContext } from './context.ts';
import { actorOf, reasonOption, symbolOption } from './control-args.ts';
import { withDatabase } from './reader.ts';

/** How often `--wait` looks at the request and its cycles. */
const WAIT_POLL_MS = 100;
/** Taken, its cycle rows must appear by then (they are the first thing the agent writes); else it says so. */
const CLAIM_WAIT_MS = 10_000;

/**
 * `pmf-scheduler trigger [--symbol S] [--reason TEXT] [--wait]`: one running agent fires a `manual` cycle within
 * 1 s (the one whose update takes the request); not taken within TRIGGER_EXPIRY_MS, it expires, never fired late.
 * No agent alive: says so, exit 1, nothing written. `--wait`: prints the cycles as `history --cycle` does, exit 0
 * when they all succeeded, else 1.
 */
export async function triggerCommand(ctx: CommandContext): Promise<number> {
  const reason = reasonOption(ctx, false);
  const by = actorOf(ctx);
  return withDatabase(ctx, {}, async (database) => {
    const db = database.db;
    const symbol = await symbolOption(ctx, db);
    const alive = await liveAgents(db, ctx.now, DEFAULT_MAX_HEARTBEAT_AGE_MS);
    if (alive.length === 0) {
      ctx.err(`pmf-scheduler: No agent alive on ${database.location} (no heartbeat in the last ${DEFAULT_MAX_HEARTBEAT_AGE_MS / 1000} s): nothing would run it; not requested`);
      return 1;
    }
    const at = ctx.clock.now();
    const expiresAt = at + TRIGGER_EXPIRY_MS;
    const args = { symbol: ctx.opts.symbol, wait: ctx.flags.wait === true || undefined };
    const { id } = await requestTrigger(db, { action: 'trigger', symbol, scope: 'run', args, reason, by, at, expiresAt });
    ctx.out(`Run-now request #${id} (${symbolLabel(symbol)}) by ${by}: one running agent fires it within 1 s, or it expires at ${new Date(expiresAt).toISOString()}`);
    if (ctx.flags.wait !== true) return 0;
    const expected = symbol === ALL_SYMBOLS ? ((await newestAgentSymbols(db)) ?? ctx.config.symbols).length : 1;
    return waitFor(ctx, db, id, expected, by);
  });
}

/** `--wait`: until the request is taken and its cycles ended, or it expired. */
async function waitFor(ctx: CommandContext, db: Kysely<Schema>, id: number, expected: number, by: string): Promise<number> {
  for (;;) {
    const r = await triggerState(db, id);
    if (r.state === 'pending' && ctx.clock.now() >= Number(r.expires_at)) {
      // No agent is left to expire it (they all died since): this command does, so it can never fire late.
      await expireTrigger(db, { id, symbol: r.symbol, expiresAt: Number(r.expires_at), reason: null }, by, ctx.clock.now());
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
