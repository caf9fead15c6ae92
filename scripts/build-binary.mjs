#!/usr/bin/env node
// Builds dist/pmf-scheduler, one file that needs no Node and no node_modules beside it: a Node single executable
// application (https://nodejs.org/api/single-executable-applications.html) holding an esbuild bundle of src/cli.ts
// and better-sqlite3's native addon as an asset (src/store/sqlite/sea-addon.ts extracts and loads it at run time).
// The binary embeds the Node that runs this script; the addon in node_modules must be built for that same Node.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { inject } from 'postject';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const work = join(root, 'dist', 'binary');
const bundle = join(work, 'pmf-scheduler.cjs');
const blob = join(work, 'sea-prep.blob');
const unfinished = join(work, 'pmf-scheduler');
const output = join(root, 'dist', 'pmf-scheduler');
// Must equal ADDON_ASSET in src/store/sqlite/sea-addon.ts.
const ADDON_ASSET = 'better_sqlite3.node';
// The fuse Node looks for to know it carries an application (the value in Node's docs).
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function fail(message) {
  process.stderr.write(`build-binary: ${message}\n`);
  process.exit(1);
}

if (process.platform !== 'linux' || process.arch !== 'x64') fail(`builds for linux-x64 only, not ${process.platform}-${process.arch}`);
// The binary finds its embedded addon through process.getBuiltinModule('node:sea') (src/store/sqlite/sea-addon.ts).
if (typeof process.getBuiltinModule !== 'function') fail(`needs Node 20.16 or later (process.getBuiltinModule), not ${process.version}`);
const started = performance.now();
mkdirSync(work, { recursive: true });

const addon = join(dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json')), 'build', 'Release', 'better_sqlite3.node');
try {
  // Fails now, not in the user's hands, when the addon was built for another Node ABI.
  process.dlopen({ exports: {} }, addon);
} catch (err) {
  fail(`${addon} does not load in Node ${process.version} (run npm rebuild better-sqlite3 with this Node): ${err.message}`);
}

// CommonJS because a single executable's main script is run as one; better-sqlite3 is bundled too, its addon is not.
await build({
  entryPoints: [join(root, 'src', 'cli.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  outfile: bundle,
  logLevel: 'warning',
});

writeFileSync(
  join(work, 'sea-config.json'),
  JSON.stringify({
    main: bundle,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: true,
    assets: { [ADDON_ASSET]: addon },
  }),
);
const sea = spawnSync(process.execPath, ['--experimental-sea-config', join(work, 'sea-config.json')], { stdio: 'inherit' });
if (sea.status !== 0) fail(`node --experimental-sea-config exited with ${sea.status ?? sea.signal}`);

// Injected into a copy, then renamed into place: a binary that is running keeps its file.
copyFileSync(process.execPath, unfinished);
chmodSync(unfinished, 0o755);
// Node ships with debug symbols: stripping them saves ~12 MiB and keeps the dynamic symbols the addon links against.
const strip = spawnSync('strip', [unfinished], { stdio: 'inherit' });
if (strip.error === undefined && strip.status !== 0) fail(`strip exited with ${strip.status ?? strip.signal}`);
const stripped = strip.error === undefined ? 'stripped' : 'not stripped: no strip (binutils) on PATH';
process.stdout.write("Injecting (postject's \"Can't find string offset for section name\" warnings are harmless)\n");
await inject(unfinished, 'NODE_SEA_BLOB', readFileSync(blob), { sentinelFuse: SEA_FUSE });
renameSync(unfinished, output);

const check = spawnSync(output, ['--version'], { encoding: 'utf8' });
if (check.status !== 0) fail(`${output} --version exited with ${check.status ?? check.signal}: ${check.stderr}`);
const mib = (statSync(output).size / 2 ** 20).toFixed(1);
process.stdout.write(`Built ${relative(process.cwd(), output)} (${mib} MiB, ${stripped}, Node ${process.version}, version ${check.stdout.trim()}) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`);
