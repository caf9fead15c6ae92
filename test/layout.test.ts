import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import test from 'node:test';
import { projectRoot } from './helpers/project-root.ts';

// The layout mirrors the data flow (README, Development): each step may import only the steps below it. A folder
// (or a top-level file) is a step; imports inside one step are free.
const MAY_IMPORT: Record<string, string[]> = {
  cli: ['commands'],
  commands: ['config', 'agent', 'control', 'notify', 'diego', 'store', 'reports', 'time', 'log', 'records', 'version'],
  config: ['store', 'time', 'log', 'records'],
  agent: ['config', 'control', 'notify', 'diego', 'store', 'reports', 'time', 'log', 'records', 'version'],
  control: ['store', 'time', 'log', 'records', 'config'],
  notify: ['store', 'time', 'log', 'records', 'version'],
  diego: ['time', 'log', 'records', 'version'],
  reports: ['store', 'time', 'log', 'records'],
  store: ['time', 'log', 'records', 'version', 'migrations'],
  migrations: ['store'],
  time: [],
  log: ['time'],
  records: [],
  version: [],
};

const root = projectRoot();

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)));
}

/** The relative imports of a file (static and dynamic, types included), as paths from the project root. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(root, file), 'utf8');
  return [...text.matchAll(/(?:from|import\()\s*'(\.{1,2}\/[^']+)'/g)].map((m) => normalize(join(dirname(file), m[1]!)));
}

/** `src/agent/cycle.ts` → `agent`, `src/config.ts` → `config`, `migrations/0001_init.ts` → `migrations`. */
function stepOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] === 'migrations') return 'migrations';
  return parts.length > 2 ? parts[1]! : parts[1]!.replace(/\.ts$/, '');
}

const files = [...sources('src'), ...sources('migrations')];
const graph = new Map(files.map((f) => [f, importsOf(f)]));

test('layout: every import points down the flow (store and diego never import agent or reports; records.ts imports nothing)', () => {
  const wrong: string[] = [];
  for (const [file, imports] of graph) {
    const from = stepOf(file);
    const allowed = MAY_IMPORT[from];
    assert.ok(allowed, `${file}: a step the layout does not know (${from}); add it to MAY_IMPORT and the README`);
    for (const target of imports) {
      const to = stepOf(target);
      if (to !== from && !allowed.includes(to)) wrong.push(`${file} → ${target} (${from} may not import ${to})`);
    }
  }
  assert.deepEqual(wrong, []);
});

test('layout: no import circle among the source files', () => {
  const state = new Map<string, 'open' | 'done'>();
  const circles: string[] = [];
  const visit = (file: string, path: string[]) => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      circles.push([...path.slice(path.indexOf(file)), file].join(' → '));
      return;
    }
    state.set(file, 'open');
    for (const next of graph.get(file) ?? []) if (graph.has(next)) visit(next, [...path, file]);
    state.set(file, 'done');
  };
  for (const file of graph.keys()) visit(file, []);
  assert.deepEqual(circles, []);
});

test('layout: the checks see the whole tree (a broken reader would pass everything)', () => {
  assert.ok(files.length > 50, `${files.length} source files`);
  assert.ok(graph.get('src/agent/slots.ts')!.includes('src/agent/cycle.ts'), 'slots.ts imports cycle.ts');
  assert.deepEqual(graph.get('src/records.ts'), []);
});

/** Whether the few lines above `line` (its doc comment) say why the piece must stay whole. */
const saysOnePiece = (lines: string[], line: number) => lines.slice(Math.max(0, line - 15), line).some((l) => /One piece:/.test(l));

test('layout: no function over 80 lines and no file over 300 in src/ without a comment saying why it is one piece', () => {
  const long: string[] = [];
  for (const file of files.filter((f) => f.startsWith('src/'))) {
    const lines = readFileSync(join(root, file), 'utf8').split('\n');
    if (lines.length > 300 && !saysOnePiece(lines, 15)) long.push(`${file}: ${lines.length} lines`);
    lines.forEach((text, i) => {
      // A top-level function (or an arrow function bound to a top-level const) runs to the first `}` at column 0.
      if (!/^(export )?(async )?function |^(export )?const \w+ = (async )?\(.*=> \{$/.test(text)) return;
      const end = lines.findIndex((l, j) => j > i && l.startsWith('}'));
      if (end - i > 80 && !saysOnePiece(lines, i)) long.push(`${file}:${i + 1} ${text.slice(0, 60)}: ${end - i} lines`);
    });
  }
  assert.deepEqual(long, []);
});
