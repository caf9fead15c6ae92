import type { Kysely } from 'kysely';
import type { ControlAction } from '../control/actions.ts';
import { newestAgentSymbols } from '../store/history/agent-reads.ts';
import { ALL_SYMBOLS, targetOf, targetParts } from '../control/state.ts';
import { escapeControl, OUTSIDE_TEXT_UNSAFE } from '../log/escape.ts';
import type { Schema } from '../store/schema.ts';
import { UsageError } from './args.ts';
import type { CommandContext } from './context.ts';
import { textOption } from './options.ts';

/** Longest `--reason` / `--by`: a sentence, not a document. */
const MAX_TEXT = 500;

/** The options every control command takes, parsed below (actorOf) and by the runner (--db). */
export const CONTROL_OPTIONS = [
  ['--by <name>', 'who acts, for the audit (recorded with the OS user@host)'],
  ['--db <path>', 'SQLite file (default: DATABASE_URL)'],
] as const;

/**
 * A text the audit keeps and `status`, `audit` and the agents' logs show: printable, one line, no format character
 * (a bidi override such as U+202E turns `approved processing` into `approved gnissecorp` on a terminal; a zero-width
 * space hides a difference), so nothing read back can drive or disguise what a terminal shows.
 */
function printableOption(name: string, raw: string | undefined): string | undefined {
  const text = textOption(name, raw);
  if (text === undefined) return undefined;
  const bad = text.match(OUTSIDE_TEXT_UNSAFE);
  if (bad !== null || text.length > MAX_TEXT) {
    const which = bad === null ? `${text.length} characters` : `U+${bad[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')} at character ${bad.index! + 1}`;
    // The value is quoted escaped: the line that refuses a bidi override must not show it raw either.
    throw new UsageError(`Invalid --${name} ${escapeControl(JSON.stringify(text.slice(0, 80)))}: expected one line of printable text, without control or format characters, at most ${MAX_TEXT} characters (${which})`);
  }
  return text;
}

/** `--reason TEXT`, required by `pause`; optional elsewhere. */
export function reasonOption(ctx: CommandContext, required: boolean): string | undefined {
  const reason = printableOption('reason', ctx.opts.reason);
  if (reason === undefined && required) throw new UsageError('Missing --reason: expected why, such as --reason "exchange unstable" (the audit keeps it)');
  return reason;
}

/**
 * Who acts: the OS user and host (`alice@trading-1`), and with `--by NAME` the name given before them
 * (`risk desk (alice@trading-1)`): the name says for whom, the user and host who ran it, where.
 */
export function actorOf(ctx: CommandContext): string {
  const os = `${ctx.user}@${ctx.host}`;
  const name = printableOption('by', ctx.opts.by);
  return name === undefined ? os : `${name} (${os})`;
}

/** The `--timeframe` option of the control commands that name jobs (pause, resume, trigger, reschedule). */
export const TIMEFRAME_OPTION = ['--timeframe <timeframe>', 'only the jobs of this timeframe (one of TIMEFRAMES; default: all)'] as const;

/**
 * The jobs `--symbol S` and `--timeframe T` name, as the action's target (control/state.ts targetOf): `S`, `S@T`,
 * `*@T`, or ALL_SYMBOLS when neither is given. The symbol is checked against the agents' symbols by checkSymbol; the
 * timeframe here, against this environment's TIMEFRAMES (the agents table keeps no timeframes; run the command with
 * the agents' configuration, as `docker compose run` does).
 */
export function symbolArg(ctx: CommandContext): string {
  const symbol = textOption('symbol', ctx.opts.symbol === undefined ? undefined : String(ctx.opts.symbol));
  if (symbol?.includes('@')) throw new UsageError(`Invalid --symbol ${JSON.stringify(symbol)}: expected a pair such as BTC/USDT (name a timeframe with --timeframe)`);
  const timeframe = textOption('timeframe', ctx.opts.timeframe === undefined ? undefined : String(ctx.opts.timeframe));
  const known = ctx.config.schedule.timeframes as readonly string[];
  if (timeframe !== undefined && !known.includes(timeframe)) {
    throw new UsageError(`Invalid --timeframe ${JSON.stringify(timeframe)}: expected one of ${known.join(', ')} (the jobs' TIMEFRAMES)`);
  }
  return targetOf(symbol ?? ALL_SYMBOLS, timeframe);
}

/**
 * An action's symbol checked against the symbols the agents run (the newest agent's SYMBOLS, else this
 * environment's): a typo must not pause nothing and look like it worked.
 */
export async function checkSymbol(ctx: CommandContext, db: Kysely<Schema>, action: ControlAction): Promise<void> {
  const { symbol } = targetParts('symbol' in action ? action.symbol : ALL_SYMBOLS);
  if (symbol === ALL_SYMBOLS) return;
  const known = (await newestAgentSymbols(db)) ?? ctx.config.symbols;
  if (!known.includes(symbol)) throw new UsageError(`Invalid --symbol ${JSON.stringify(symbol)}: expected one of ${known.join(', ')} (the agents' SYMBOLS)`);
}
