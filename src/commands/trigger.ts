import { newestAgentSymbols } from '../store/history/agent-reads.ts';
import { ALL_SYMBOLS, symbolLabel, targetParts, TRIGGER_EXPIRY_MS } from '../control/state.ts';
import { DEFAULT_MAX_HEARTBEAT_AGE_MS } from '../reports/health-query.ts';
import { controlCommand } from './control-command.ts';
import { actorOf, reasonOption, symbolArg, TIMEFRAME_OPTION } from './control-args.ts';

/**
 * `pmf-scheduler trigger [--symbol S] [--reason TEXT] [--wait]`: one running agent fires a `manual` cycle within
 * 1 s (the one whose update takes the request); not taken within TRIGGER_EXPIRY_MS, it expires, never fired late.
 * No agent alive that fires (none, or only disabled, waiting for Diego or held by its clock): refused, one line,
 * exit 1, nothing written. `--wait`: prints the cycles as `history --cycle` does, exit 0 when they all succeeded,
 * else 1.
 */
export const triggerCommand = controlCommand({
  name: 'trigger',
  summary: 'Run now: one running agent fires a manual cycle within 1 s (exit 1 when no agent alive can take it)',
  options: [
    ['--reason <text>', 'why, for the audit'],
    ['--symbol <symbol>', 'only this symbol (default: all)'],
    TIMEFRAME_OPTION,
    ['--wait', 'wait for the cycle to end and print it; exit 0 on success, 1 on failure'],
  ],
  parse(ctx) {
    const args = { symbol: ctx.opts.symbol, timeframe: ctx.opts.timeframe, wait: ctx.flags.wait === true || undefined };
    return { kind: 'trigger', symbol: symbolArg(ctx), reason: reasonOption(ctx, false), by: actorOf(ctx), expiresAfterMs: TRIGGER_EXPIRY_MS, maxAgentAgeMs: DEFAULT_MAX_HEARTBEAT_AGE_MS, args };
  },
  async report(ctx, applied, action, db) {
    if (applied.outcome !== 'applied') return 1;
    ctx.out(`Run-now request #${applied.id} (${symbolLabel(action.symbol)}) by ${action.by}: one running agent fires it within 1 s, or it expires at ${new Date(applied.expiresAt).toISOString()}`);
    if (ctx.flags.wait !== true) return 0;
    // One cycle per job the request names: its symbols (the agents') × its timeframes (this environment's TIMEFRAMES).
    const { symbol, timeframe } = targetParts(action.symbol);
    const symbols = symbol === ALL_SYMBOLS ? ((await newestAgentSymbols(db)) ?? ctx.config.symbols).length : 1;
    const expected = symbols * (timeframe === undefined ? ctx.config.schedule.timeframes.length : 1);
    const { waitFor } = await import('./trigger-wait.ts');
    return waitFor(ctx, db, applied.id, expected, action.by);
  },
});
