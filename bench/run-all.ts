// `npm run bench`: every benchmark, one after another, each in its own process (so none skews another's memory
// or timers), then the history/stats query benchmark (`npm run bench:queries`).
//   node dist/bench/run-all.js [--quick] [--slots N]
// --quick: 30 slots, 2,000 cycles, 500 writes × 1 run, 3 start-ups: a few minutes instead of about 45.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { flag } from './lib/args.ts';
import { exited } from './lib/proc.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const slots = flag(argv, 'slots') ?? (quick ? '30' : '300');

const parts: [title: string, command: string, args: string[]][] = [
  ['1. Fire precision', process.execPath, [join(here, 'precision.js'), '--slots', slots]],
  ['2. Cost per cycle and footprint', process.execPath, ['--expose-gc', join(here, 'cost.js'), ...(quick ? ['--cycles', '2000'] : ['--runs', '3'])]],
  ['3. Write path', process.execPath, [join(here, 'write-path.js'), ...(quick ? ['--cycles', '500', '--runs', '1'] : [])]],
  ['4. Start-up', process.execPath, [join(here, 'startup.js'), ...(quick ? ['--runs', '3'] : [])]],
];
const scripts = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts ?? {};

let failed = 0;
for (const [title, command, args] of parts) {
  process.stdout.write(`\n## ${title}\n\n`);
  const code = await exited(spawn(command, args, { stdio: 'inherit', cwd: root }));
  if (code !== 0) failed++;
}
process.stdout.write('\n## 5. Queries (history and stats on a 1,000,000-attempt database)\n\n');
if (scripts['bench:queries']) {
  const code = await exited(spawn('npm', ['run', '--silent', 'bench:queries'], { stdio: 'inherit', cwd: root }));
  if (code !== 0) failed++;
} else process.stdout.write('not available yet: package.json has no bench:queries script (the history/stats issue adds it)\n');
process.exit(failed > 0 ? 1 : 0);
