import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import { analysisOk } from './diego-stub.ts';
import { scene } from './scene.ts';

// Wall-clock jumps under libfaketime (Debian's `faketime` package), preloaded into a spawned CLI only: its offset
// file is re-read on every call (FAKETIME_NO_CACHE), so a test moves the agent's wall clock while it runs.
// Monotonic time is left alone (FAKETIME_DONT_FAKE_MONOTONIC), as in a real NTP step: timers keep their pace,
// Date.now() jumps.

/** libfaketime's multi-threaded build (Node has threads), wherever this machine's multiarch puts it. */
export function findLibfaketime(): string | undefined {
  const roots = ['/usr/lib', '/usr/lib64', '/usr/local/lib'];
  for (const root of roots) {
    const direct = join(root, 'faketime', 'libfaketimeMT.so.1');
    if (existsSync(direct)) return direct;
    if (!existsSync(root)) continue;
    for (const arch of readdirSync(root).filter((d) => d.endsWith('-linux-gnu'))) {
      const lib = join(root, arch, 'faketime', 'libfaketimeMT.so.1');
      if (existsSync(lib)) return lib;
    }
  }
  return undefined;
}

/**
 * libfaketime, or the test skipped saying why: a developer machine without it skips, CI (which installs it, .ci/run)
 * fails instead of passing quietly.
 */
export function libfaketimeFor(t: TestContext): string | undefined {
  const lib = findLibfaketime();
  if (lib) return lib;
  const why = 'libfaketime not found: apt-get install -y faketime';
  if (process.env.CI) assert.fail(why);
  t.skip(why);
  return undefined;
}

/** The preload settings for spawnCli, and `offset(s)` to step the child's wall clock to real time + s seconds. */
export function fakeWallClock(lib: string, offsetFile: string): { preload: Record<string, string>; offset(seconds: number): void } {
  const offset = (seconds: number) => writeFileSync(offsetFile, `${seconds >= 0 ? '+' : ''}${seconds}\n`);
  offset(0);
  return { preload: { LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: offsetFile, FAKETIME_NO_CACHE: '1', FAKETIME_DONT_FAKE_MONOTONIC: '1' }, offset };
}

/**
 * The start of a wall-clock test against the real CLI: libfaketime (or the test skipped, see libfaketimeFor), a
 * scene, a Diego stub answering 200, and the agent's database path and fake wall clock in the scene's temp dir.
 * Undefined: skipped.
 */
export async function wallClockScene(t: TestContext) {
  const lib = libfaketimeFor(t);
  if (!lib) return undefined;
  const s = scene(t);
  const stub = await s.stub([{ status: 200, body: analysisOk() }]);
  const dir = s.dir();
  return { s, stub, dir, db: join(dir, 'history.db'), clock: fakeWallClock(lib, join(dir, 'faketime.rc')) };
}
