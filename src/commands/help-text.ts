import type { CAC } from 'cac';
import { fitToWidth } from '../reports/fit-width.ts';

/**
 * What `pmf-scheduler <command> --help` shows beside cac's usage and options: the command's description (cac shows
 * it only in the top-level list) and examples (test/e2e/help.test.ts checks that each names a command and only
 * that command's flags).
 */
export const EXAMPLES: Readonly<Record<string, readonly string[]>> = {
  run: ['CRON_PATTERN="*/10 * * * * *" DIEGO_URL=http://127.0.0.1:3001 pmf-scheduler run', 'pmf-scheduler run --symbols BTC/USDT,ETH/USDT --trigger-execution false'],
  migrate: ['DATABASE_URL=postgres://pmf@db/pmf pmf-scheduler migrate'],
  simulator: ['pmf-scheduler simulator --port 3001 --fail-rate 0.2 --latency-ms 50'],
  demo: ['pmf-scheduler demo'],
  history: ['pmf-scheduler history --limit 50 --status failed', 'pmf-scheduler history --cycle 42', 'pmf-scheduler history --since 2h --json | jq .', 'pmf-scheduler history --follow'],
  stats: ['pmf-scheduler stats --window 1h', 'pmf-scheduler stats --since 2024-01-22T09:00:00Z --until 1h --by replica', 'pmf-scheduler stats --json'],
  next: ['pmf-scheduler next --count 3', 'pmf-scheduler next --cron "0 */5 * * * *"'],
  healthcheck: ['pmf-scheduler healthcheck --max-age 90s --max-failures 5'],
  prune: ['pmf-scheduler prune --older-than 30d --dry-run'],
  pause: ['pmf-scheduler pause --reason "exchange maintenance" --for 30m', 'pmf-scheduler pause --execution --reason "desk review" --by alice', 'pmf-scheduler pause --execution --from 2024-01-22T07:55:00Z --for 10m --reason "planned"'],
  resume: ['pmf-scheduler resume --reason "maintenance over"', 'pmf-scheduler resume --execution --reason "reviewed" --by alice'],
  trigger: ['pmf-scheduler trigger --reason "check after deploy" --wait'],
  reschedule: ['pmf-scheduler reschedule "*/5 * * * * *" --reason "volatile market"', 'pmf-scheduler reschedule --reset --reason "back to normal"'],
  status: ['pmf-scheduler status', 'pmf-scheduler status --json | jq .agents'],
  audit: ['pmf-scheduler audit --since 24h'],
  alerts: ['pmf-scheduler alerts --since 7d', 'pmf-scheduler alerts test'],
  completions: ['pmf-scheduler completions bash > /etc/bash_completion.d/pmf-scheduler'],
};

/** cac's help section: an optional title and its lines. */
interface Section {
  title?: string;
  body: string;
}

/**
 * Adds the examples to each command, and makes `--help` say what a command does and fit the terminal: lines broken
 * between words under their own description column (cac pads them out to one long line each, which a terminal breaks
 * mid-word), no trailing spaces. `width`: the terminal's columns; undefined when piped (lines kept whole).
 */
export function declareHelp(cli: CAC, width: number | undefined): void {
  for (const cmd of cli.commands) for (const example of EXAMPLES[cmd.name || 'run'] ?? []) if (cmd.name !== '') cmd.example(`  $ ${example}`);
  cli.help((sections: Section[]) => {
    const cmd = cli.matchedCommand;
    const described: Section[] = cmd && cmd.name !== '' && cmd.description ? [...sections.slice(0, 2), { body: `  ${cmd.description}` }, ...sections.slice(2)] : sections;
    return described.map((s) => ({ ...s, body: fitToWidth(s.body, width) }));
  });
}
