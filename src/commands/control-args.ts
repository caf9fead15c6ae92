import type { Kysely } from 'kysely';
import { newestAgentSymbols } from '../store/history/agent-reads.ts';
import { ALL_SYMBOLS } from '../control/state.ts';
import type { Schema } from '../store/schema.ts';
import { UsageError } from './args.ts';
import type { CommandContext } from './context.ts';
import { textOption } from './options.ts';

/** Longest `--reason` / `--by`: a sentence, not a document. */
const MAX_TEXT = 500;

/**
 * A text the audit keeps and `status`, `audit` and the agents' logs show: printable, one line, so nothing read back
 * can drive a terminal.
 */
function printableOption(name: string, raw: string | undefined): string | undefined {
  const text = textOption(name, raw);
  // eslint-disable-next-line no-control-regex
  if (text !== undefined && (/[\u0000-\u001f\u007f-\u009f]/.test(text) || text.length > MAX_TEXT)) {
    throw new UsageError(`Invalid --${name} ${JSON.stringify(text.slice(0, 80))}: expected one line of printable text, at most ${MAX_TEXT} characters`);
  }
  return text;
}

/** `--reason TEXT`, required by `pause`; optional elsewhere. */
export function reasonOption(ctx: CommandContext, required: boolean): string | undefined {
  const reason = printableOption('reason', ctx.opts.reason);
  if (reason === undefined && required) throw new UsageError('Missing --reason: expected why, such as --reason "exchange unstable" (the audit keeps it)');
  return reason;
}

/** Who acts: `--by NAME`, else the OS user and host (`alice@trading-1`). */
export const actorOf = (ctx: CommandContext): string => printableOption('by', ctx.opts.by) ?? `${ctx.user}@${ctx.host}`;

/**
 * `--symbol S` checked against the symbols the agents run (the newest agent's SYMBOLS, else this environment's):
 * a typo must not pause nothing and look like it worked. ALL_SYMBOLS when absent.
 */
export async function symbolOption(ctx: CommandContext, db: Kysely<Schema>): Promise<string> {
  const symbol = textOption('symbol', ctx.opts.symbol);
  if (symbol === undefined) return ALL_SYMBOLS;
  const known = (await newestAgentSymbols(db)) ?? ctx.config.symbols;
  if (!known.includes(symbol)) throw new UsageError(`Invalid --symbol ${JSON.stringify(symbol)}: expected one of ${known.join(', ')} (the agents' SYMBOLS)`);
  return symbol;
}
