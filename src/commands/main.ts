import { hostname, userInfo } from 'node:os';
import { cac, type CAC, type Command } from 'cac';
import { SETTINGS, colorsWanted, flagName } from '../config.ts';
import { systemClock } from '../time/clock.ts';
import { VERSION } from '../version.ts';
import { UsageError, checkRepeats, joinDashValues, valueOptions } from './args.ts';
import { SHELLS, completionTable, completionsCommand, type Shell } from './completions.ts';
import { configWithDb } from './config-from.ts';
import { declareControl, type ControlCommand } from './control-command.ts';
import { declareHelp } from './help-text.ts';
import { pauseCommand } from './pause.ts';
import { rescheduleCommand } from './reschedule.ts';
import { resumeCommand } from './resume.ts';
import { triggerCommand } from './trigger.ts';
import type { CommandContext, Io } from './context.ts';
import { runCommand } from './run.ts';

export type { Io };

/** The live-control commands, in the order `--help` lists them. */
const CONTROL_COMMANDS: readonly ControlCommand[] = [pauseCommand, resumeCommand, triggerCommand, rescheduleCommand] as readonly ControlCommand<any>[];

/** A report or upkeep command's module, loaded only when it runs (so `history` pays for no agent code). */
type Load = () => Promise<(ctx: CommandContext) => Promise<number>>;
/** What the declarations need from `main`: an action that runs a loaded command, and one that starts any work. */
interface Actions {
  /** cac's action for a report or upkeep command: configuration from the environment, then the command. */
  command: (load: Load) => (...params: unknown[]) => void;
  /** The same for a command that reads only the environment variables `reads`: the others are not parsed, so not refused. */
  commandReading: (reads: readonly string[], load: Load) => (...params: unknown[]) => void;
  /** Starts a command's work with the option values that carry a value (set once every command is declared). */
  start: (work: (values: Record<string, string>) => Promise<number>) => void;
}

const dbOption = ['--db <path>', 'SQLite file (default: DATABASE_URL)'] as const;
const timeHelp = '30m, 2h, 7d (that long ago) or an ISO time';

/** Runs the CLI and resolves to the exit code: 0 stop, 1 runtime failure, 2 usage or configuration error. */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const cli = cac('pmf-scheduler');
  // Set once every command is declared (the options that take a value come from the table), before any action runs.
  let values: Record<string, string> = {};
  let result: Promise<number> = Promise.resolve(0);
  const acts: Actions = {
    // cac calls an action with the command's positional arguments, then the parsed flags.
    command: (load) => (...params) => {
      const flags = params.pop() as Record<string, unknown>;
      const args = params.flat().filter((a): a is string => typeof a === 'string');
      result = toolCommand(io, values, args, flags, load);
    },
    commandReading: (reads, load) => (...params) => {
      const flags = params.pop() as Record<string, unknown>;
      const args = params.flat().filter((a): a is string => typeof a === 'string');
      result = toolCommand({ ...io, env: Object.fromEntries(reads.map((k) => [k, io.env[k]])) }, values, args, flags, load);
    },
    start: (work) => {
      result = work(values);
    },
  };
  // The command table, in the order the help lists it; the shell completions are generated from it.
  declareAgentCommands(cli, io, acts);
  declareReportCommands(cli, acts);
  declareControlCommands(cli, acts);
  cli
    .command('completions <shell>', `Print the shell completion script: ${SHELLS.join(', ')} (from this command table)`)
    .action((shell: string) => {
      if (!(SHELLS as readonly string[]).includes(shell)) throw new UsageError(`Invalid shell ${JSON.stringify(shell)}: expected one of ${SHELLS.join(', ')}`);
      // Static: the module is a few pure renderers, and SHELLS is needed to declare the command anyway.
      result = Promise.resolve(completionsCommand(io, shell as Shell, completionTable(cli.commands, cli.globalCommand, { completions: SHELLS })));
    });
  declareHelp(cli, io.columns);
  cli.version(VERSION);

  try {
    const valued = new Set([cli.globalCommand, ...cli.commands].flatMap((c) => c.options.filter((o) => o.rawName.includes('<')).map((o) => o.rawName.split(' ')[0]!)));
    const args = joinDashValues(argv, valued);
    checkRepeats(args);
    values = valueOptions(args);
    cli.parse(['node', 'pmf-scheduler', ...args], { run: false });
    // cac prints the version only when no command matched (`pmf-scheduler --version`); `history --version` got nothing.
    if (cli.options.version && !cli.options.help && cli.matchedCommandName !== undefined) cli.outputVersion();
    if (cli.options.help || cli.options.version) return 0;
    await cli.runMatchedCommand();
    return await result;
  } catch (err) {
    if (err instanceof UsageError || (err instanceof Error && err.name === 'CACError')) {
      io.err(`pmf-scheduler: ${asTyped(err.message, argv)}`);
      return 2;
    }
    throw err;
  }
}

/** The agent and its companions: the default command, `run`, `migrate`, `simulator` and `demo`. */
function declareAgentCommands(cli: CAC, io: Io, { command, start }: Actions): void {
  const withAgentOptions = (cmd: Command) => {
    for (const s of Object.values(SETTINGS)) cmd.option(`--${flagName(s.env)} <value>`, `${s.help} (env ${s.env}, default ${s.default === '' ? 'unset' : JSON.stringify(s.default)})`);
    return cmd;
  };
  withAgentOptions(cli.command('[...args]', 'Start the agent (same as run)')).action((args: string[]) => {
    if (args.length > 0) throw new UsageError(`Unknown command ${JSON.stringify(args[0])}: see pmf-scheduler --help`);
    start((values) => runCommand(io, values));
  });
  withAgentOptions(cli.command('run', 'Start the agent')).action(() => {
    start((values) => runCommand(io, values));
  });
  cli
    .command('migrate', 'Create or update the database schema, then exit')
    .option('--db <path>', 'SQLite file (default: DATABASE_URL)')
    .action(command(async () => (await import('./migrate.ts')).migrateCommand));
  cli
    .command('simulator', 'Run the built-in Diego simulator (answers GET /health and POST /analyze)')
    .option('--host <host>', 'address to listen on', { default: '127.0.0.1' })
    .option('--port <port>', 'port to listen on', { default: 3001 })
    .option('--fail-rate <rate>', 'share of /analyze answered 503, 0..1', { default: 0.1 })
    .option('--latency-ms <ms>', 'added latency per /analyze', { default: 200 })
    .action(() => {
      start((values) => import('./simulator.ts').then((m) => m.simulatorCommand(io, values)));
    });
  cli
    .command('demo', 'Run the simulator and the agent against it every 5 s, with some failures (data/demo.db)')
    .option('--db <path>', 'SQLite file', { default: './data/demo.db' })
    .action(() => {
      start((values) => import('./simulator.ts').then((m) => m.demoCommand(io, values)));
    });
}

/** Reports and upkeep on the database: `history`, `stats`, `next`, `healthcheck`, `prune`. */
function declareReportCommands(cli: CAC, { command, commandReading }: Actions): void {
  cli
    .command('history', 'Past cycles, newest first (read-only; works while the agent runs)')
    .option('--limit <n>', 'how many cycles (default 20)')
    .option('--status <status>', 'succeeded, failed, skipped, interrupted or running')
    .option('--symbol <symbol>', 'only this symbol, such as BTC/USDT')
    .option('--timeframe <timeframe>', "only this timeframe's job(s), such as 5m")
    .option('--since <time>', `scheduled at or after: ${timeHelp}`)
    .option('--until <time>', `scheduled before: ${timeHelp}`)
    .option('--key <uuid>', "the cycle with this Idempotency-Key (as Diego received it)")
    .option('--trigger <trigger>', 'schedule, startup or manual (pmf-scheduler trigger)')
    .option('--cycle <id>', 'one cycle with all its attempts')
    .option('--json', 'a JSON array (fields in docs/commands.md); with --follow, one object per line')
    .option('--follow', 'then print each cycle as it ends, until Ctrl-C')
    .option(...dbOption)
    .action(command(async () => (await import('./history.ts')).historyCommand));
  cli
    .command('stats', 'Success rate, latency, lateness, failures and missed slots over a window (read-only)')
    .option('--window <span>', '10m, 1h, 24h, 7d or all (default 24h)')
    .option('--since <time>', `window start instead of --window: ${timeHelp}`)
    .option('--until <time>', `window end (default now): ${timeHelp}`)
    .option('--cron <pattern>', "pattern for missed slots (default: the newest agent's, else CRON_PATTERN)")
    .option('--by <group>', 'symbol (default) or replica: the numbers per replica that ran the cycles')
    .option('--json', 'the same numbers as JSON (fields in docs/commands.md)')
    .option(...dbOption)
    .action(command(async () => (await import('./stats.ts')).statsCommand));
  cli
    .command('next', 'The next fire times of the pattern, local and UTC (checks a pattern before deploying)')
    .option('--count <n>', 'how many (default 5)')
    .option('--cron <pattern>', 'the pattern (default CRON_PATTERN)')
    .option('--json', 'as JSON')
    .action(command(async () => (await import('./next.ts')).nextCommand));
  cli
    .command('healthcheck', "Exit 0 when the agent's heartbeat is fresh, 1 with the reason otherwise (Docker HEALTHCHECK)")
    .option('--max-age <span>', 'heartbeat older than this is stale (default 60s)')
    .option('--max-failures <n>', 'also unhealthy after this many consecutive failed cycles')
    .option('--max-wait <span>', 'also unhealthy when the agent has waited this long for Diego at start (default: no limit)')
    .option(...dbOption)
    // Only what it reads: a Docker HEALTHCHECK must not call an agent unhealthy (exit 2) for a setting it never uses.
    .action(commandReading(HEALTHCHECK_READS, async () => (await import('./healthcheck.ts')).healthcheckCommand));
  cli
    .command('prune', 'Delete cycles and their attempts older than HISTORY_RETENTION_DAYS (or --older-than)')
    .option('--older-than <span>', 'such as 30d (default HISTORY_RETENTION_DAYS days)')
    .option('--dry-run', 'only count what would be deleted')
    .option(...dbOption)
    .action(command(async () => (await import('./prune.ts')).pruneCommand));
}

/** Live control (docs/operating.md): the database is the control plane, every change audited; then what it shows. */
function declareControlCommands(cli: CAC, { command }: Actions): void {
  // Each command declares its options where it parses them (pause.ts …); the runner and the database load only when
  // one runs.
  for (const c of CONTROL_COMMANDS) {
    declareControl(cli, c, command(async () => {
      const { runControl } = await import('./control-run.ts');
      return (ctx) => runControl(c, ctx);
    }));
  }
  cli
    .command('status', 'The live picture: agents alive, pauses, pattern, next slot, in flight (exit 0 firing; 1 no agent, 3 paused, 4 clock went back, 5 disabled, 6 waiting for Diego, 7 clock offset)')
    .option('--json', 'as JSON (fields in docs/operating.md)')
    .option(...dbOption)
    .action(command(async () => (await import('./status.ts')).statusCommand));
  cli
    .command('audit', 'Every control action: when, what, why, by whom, and when each agent applied it')
    .option('--since <time>', `at or after: ${timeHelp}`)
    .option('--limit <n>', 'how many, newest (default 100)')
    .option('--json', 'as JSON (fields in docs/operating.md)')
    .option(...dbOption)
    .action(command(async () => (await import('./audit.ts')).auditCommand));
  cli
    .command('alerts [action]', 'Notifications and their delivery (pending, sent, gave up); `alerts test` sends a test to every channel')
    .option('--since <time>', `created at or after: ${timeHelp} (default 24h)`)
    .option('--limit <n>', 'how many (default 50)')
    .option('--json', 'a JSON array (one object per notification)')
    .option(...dbOption)
    .action(command(async () => (await import('./alerts.ts')).alertsCommand));
}

/** Runs a report or upkeep command: configuration from the environment (DATABASE_URL overridden by --db). */
async function toolCommand(io: Io, opts: Record<string, string>, args: string[], flags: Record<string, unknown>, load: () => Promise<(ctx: CommandContext) => Promise<number>>): Promise<number> {
  const config = configWithDb(io, opts);
  if (typeof config === 'number') return config;
  const run = await load();
  const clock = io.clock ?? systemClock;
  return run({ config, args, opts, flags, out: io.out, err: io.err, colors: colorsWanted(io.env, io.isTTY), width: io.columns, onSignal: io.onSignal, now: clock.now(), clock, host: hostname(), user: osUser(), databaseSetting: opts.db !== undefined ? '--db' : 'DATABASE_URL', timeZoneFromTz: io.env.TZ !== undefined && io.env.TZ !== '' });
}

/** The OS user's name; a container user with no passwd entry has none, and is named by its uid. */
function osUser(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.() ?? '?'}`;
  }
}

/** The environment `healthcheck` reads: where the database is (and the single binary's addon cache), colours. */
const HEALTHCHECK_READS = ['DATABASE_URL', 'XDG_CACHE_HOME', 'TZ', 'NO_COLOR', 'FORCE_COLOR'] as const;

/**
 * cac names an unknown option camel-cased (`--bogusFlag` for `--bogus-flag`): the message gets the option as the
 * user typed it back (issue 24 item 18). Pure.
 */
export function asTyped(message: string, argv: readonly string[]): string {
  const m = /^Unknown option `--([^`]+)`/.exec(message);
  if (!m) return message;
  const camel = (name: string) => name.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
  const typed = argv.map((a) => a.split('=')[0]!).find((a) => a.startsWith('--') && camel(a.slice(2)) === m[1]);
  return typed === undefined ? message : message.replace(`\`--${m[1]}\``, `\`${typed}\``);
}
