#!/usr/bin/env node
// Bundles kysely into dist/node_modules/kysely, after `tsc` has built dist/. Why: Node 20 loads kysely's ~300 ES
// modules one file at a time, ~170 ms on this machine, most of a `pmf-scheduler history` process; the same code as
// one bundle loads in ~25 ms (Node 22's compile cache does not exist on 20). Node resolves `kysely` from a file
// under dist/ by looking in dist/node_modules before ./node_modules, so every built file (the CLI, the compiled
// tests and benchmarks) gets the bundle, and nothing else changes: sources, types, tsx and Deno use ./node_modules.
// Every entry point kysely exports is bundled, with shared chunks, so `kysely` and its helpers share classes.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// A direct dependency, so npm puts it at the top of node_modules (its package.json is not in its exports).
const source = join(root, 'node_modules', 'kysely');
const target = join(root, 'dist', 'node_modules', 'kysely');
const pkg = JSON.parse(readFileSync(join(source, 'package.json'), 'utf8'));

// exports: { ".": { import: "./dist/esm/index.js", require: "./dist/cjs/index.js", … }, "./helpers/postgres": … }: the
// ES module build of each entry point.
const entries = Object.entries(pkg.exports).map(([key, value]) => [key, typeof value === 'string' ? value : (value.import ?? value.default)]);
rmSync(target, { recursive: true, force: true });
await build({
  entryPoints: Object.fromEntries(entries.map(([, file]) => [file.replace(/^\.\//, '').replace(/\.js$/, ''), join(source, file)])),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: target,
  logLevel: 'warning',
});
writeFileSync(
  join(target, 'package.json'),
  `${JSON.stringify({ name: 'kysely', version: pkg.version, description: 'kysely bundled by scripts/bundle-kysely.mjs', type: 'module', license: pkg.license, exports: Object.fromEntries(entries) }, null, 2)}\n`,
);
