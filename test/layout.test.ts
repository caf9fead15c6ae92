import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import test from 'node:test';
import ts from 'typescript';
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

/** The limits of the size rule (README, Development): split what is long instead of excusing it. */
const MAX_FUNCTION_LINES = 100;
const MAX_FILE_LINES = 300;

/**
 * Every outermost function of a source file (declarations, methods, accessors, function and arrow expressions) with
 * its length in lines; a function inside another counts in its parent. Parsed by the TypeScript compiler, so an
 * arrow passed as an argument or a method of an object is measured as well as a top-level declaration.
 */
function functionsOf(file: string, text: string): { name: string; line: number; lines: number }[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: { name: string; line: number; lines: number }[] = [];
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line + 1;
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body !== undefined) {
      const start = lineOf(node.getStart(source));
      const named = node.name ?? (ts.isVariableDeclaration(node.parent) || ts.isPropertyAssignment(node.parent) ? node.parent.name : undefined);
      found.push({ name: named ? named.getText(source) : '(anonymous)', line: start, lines: lineOf(node.getEnd()) - start + 1 });
      return;
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

test('layout: functionsOf measures outermost functions, nested ones inside their parent', () => {
  const text = ['export function outer() {', '  const inner = () => {', '    return 1;', '  };', '  return inner();', '}', 'const arrow = async (a: number) => {', '  return a;', '};', 'const o = { m() {', '  return 2;', '} };'].join('\n');
  assert.deepEqual(functionsOf('x.ts', text), [
    { name: 'outer', line: 1, lines: 6 },
    { name: 'arrow', line: 7, lines: 3 },
    { name: 'm', line: 10, lines: 3 },
  ]);
});

test(`layout: no function over ${MAX_FUNCTION_LINES} lines (nested functions counted in their parent) and no file over ${MAX_FILE_LINES} in src/, and no comment excusing one`, () => {
  const long: string[] = [];
  for (const file of files.filter((f) => f.startsWith('src/'))) {
    const text = readFileSync(join(root, file), 'utf8');
    const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
    if (lines > MAX_FILE_LINES) long.push(`${file}: ${lines} lines`);
    for (const f of functionsOf(file, text)) if (f.lines > MAX_FUNCTION_LINES) long.push(`${file}:${f.line} ${f.name}: ${f.lines} lines`);
    if (/One piece:/.test(text)) long.push(`${file}: a "One piece:" comment excuses size instead of splitting`);
  }
  assert.deepEqual(long, [], `over the size rule:\n${long.join('\n')}`);
});
