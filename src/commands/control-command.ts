import type { CAC, Command } from 'cac';
import type { Kysely } from 'kysely';
import type { ActionKind, Applied, ControlAction } from '../control/actions.ts';
import type { Schema } from '../store/schema.ts';
import type { CommandContext } from './context.ts';
import { CONTROL_OPTIONS } from './control-args.ts';

/**
 * A live-control command: its options, declared here beside `parse`, which turns them into an action (throwing a
 * UsageError for bad input, before the database is opened), and `report`, which says what the applied action did.
 * The runner (control-run.ts) opens the database, checks the symbol, applies the action (control/apply.ts) and calls
 * `report`. A new command is one such object in its own file and one line in CONTROL_COMMANDS (main.ts).
 */
export interface ControlCommand<K extends ActionKind = ActionKind> {
  /** As cac takes it: `pause`, `reschedule [pattern]`. */
  name: string;
  summary: string;
  /** `[flag, help]`, besides CONTROL_OPTIONS. */
  options: readonly (readonly [string, string])[];
  parse(ctx: CommandContext): ControlAction & { kind: K };
  /** The lines to print and the exit code; `db` for a command that reads on (trigger --wait). */
  report(ctx: CommandContext, applied: Applied<K>, action: ControlAction & { kind: K }, db: Kysely<Schema>): Promise<number> | number;
}

/** Declares a control command on the CLI; `run` is called with the context once it matched. */
export function declareControl(cli: CAC, c: ControlCommand, run: (...params: unknown[]) => void): Command {
  const cmd = cli.command(c.name, c.summary);
  for (const [flag, help] of [...c.options, ...CONTROL_OPTIONS]) cmd.option(flag, help);
  return cmd.action(run);
}

/** Helps a command keep its kind: `controlCommand({ … })` checks the object against ControlCommand<K>. */
export const controlCommand = <K extends ActionKind>(c: ControlCommand<K>): ControlCommand<K> => c;
