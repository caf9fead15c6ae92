import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../helpers/project-root.ts';

// `npm ci` warns EBADENGINE when an installed package declares a Node range the running Node is outside of. The
// project's floor (package.json `engines`) and CI's second leg (Node 24, scripts/test-node24.sh) must both be inside
// every range in the lock file, so a fresh install on a supported Node is quiet.

type Version = [number, number, number];
const parse = (v: string): Version => {
  const [a = 0, b = 0, c = 0] = v.replace(/^v/, '').split('.').map((p) => (p === 'x' || p === '*' ? 0 : Number(p)));
  return [a, b, c];
};
const cmp = (x: Version, y: Version) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2];

/** Whether `version` is in an npm engines range of the forms the lock holds: `>=a.b`, `^a.b.c`, `20.x`, `*`, `||`. */
function satisfies(version: string, range: string): boolean {
  const v = parse(version);
  return range.split('||').some((alternative) => {
    const r = alternative.trim();
    if (r === '*' || r === '') return true;
    let m = /^>=\s*(\S+)$/.exec(r);
    if (m) return cmp(v, parse(m[1]!)) >= 0;
    m = /^\^(\S+)$/.exec(r);
    if (m) {
      const low = parse(m[1]!);
      return cmp(v, low) >= 0 && v[0] === low[0];
    }
    m = /^(\d+)\.x$/.exec(r);
    if (m) return v[0] === Number(m[1]);
    throw new Error(`engines range not understood here: ${JSON.stringify(r)}`);
  });
}

test('every package in the lock file accepts the Node floor of package.json and Node 24 (no EBADENGINE on npm ci)', () => {
  const root = projectRoot();
  const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { engines: { node: string } };
  const floor = /^>=(\d+\.\d+\.\d+)$/.exec(manifest.engines.node)?.[1];
  assert.ok(floor, `package.json engines.node is ">=x.y.z": ${manifest.engines.node}`);
  const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string }; optional?: boolean }> };
  const refused: string[] = [];
  for (const [path, pkg] of Object.entries(lock.packages)) {
    const range = pkg.engines?.node;
    if (range === undefined || pkg.optional) continue; // optional packages for other platforms are never installed here
    for (const node of [floor, '24.0.0']) if (!satisfies(node, range)) refused.push(`${path || 'the project'} (${range}) refuses Node ${node}`);
  }
  assert.deepEqual(refused, []);
  assert.equal(satisfies('20.20.2', '>=22.0.0'), false, 'kysely 0.29 (>=22) would be refused on Node 20');
});
