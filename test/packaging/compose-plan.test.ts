import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { composePlan, durationSeconds, formatPlan, shellJoin, substitute } from '../../scripts/compose-plan.ts';
import { projectRoot } from '../helpers/project-root.ts';

// scripts/compose-plan.ts turns our compose files into the `run` options scripts/image-check.sh starts each service
// with: what it derives must be what compose would do with the same files.

const read = (file: string) => readFileSync(join(projectRoot(), file), 'utf8');
const single = composePlan([read('docker-compose.yml')], 'p', {});
const ha = composePlan([read('docker-compose.yml'), read('docker-compose.ha.yml')], 'p', { POSTGRES_PASSWORD: 'pw' });
const service = (plan: typeof single, name: string) => plan.services.find((s) => s.name === name)!;
const option = (args: string[], flag: string) => args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));

test('the single stack: the scheduler after the simulators it waits for, with its volume, read-only root and grace', () => {
  assert.deepEqual(single.services.map((s) => s.name), ['diego', 'miguel', 'scheduler']);
  const scheduler = service(single, 'scheduler');
  assert.equal(scheduler.source, 'build');
  assert.deepEqual(scheduler.needs, [{ service: 'diego', condition: 'service_healthy' }, { service: 'miguel', condition: 'service_healthy' }]);
  assert.ok(scheduler.args.includes('--read-only'));
  assert.deepEqual(option(scheduler.args, '--volume'), ['p-scheduler-data:/app/data']);
  assert.deepEqual(option(scheduler.args, '--stop-timeout'), ['15']);
  assert.ok(option(scheduler.args, '--env').includes('DIEGO_TOKEN='), '${DIEGO_TOKEN:-} is empty when unset');
  assert.deepEqual(single.volumes, ['p-scheduler-data']);
  assert.deepEqual(service(single, 'diego').command, ['simulator', '--host', '0.0.0.0', '--port', '3001']);
});

test("a CMD health check becomes a shell string that runs the same words (docker's --health-cmd is run by sh -c)", async () => {
  const diego = service(single, 'diego');
  const [cmd] = option(diego.args, '--health-cmd');
  const { stdout } = await promisify(execFile)('/bin/sh', ['-c', cmd!.replace(/^node -e/, 'printf %s')]);
  assert.equal(stdout, "fetch('http://127.0.0.1:3001/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))");
  assert.deepEqual(option(diego.args, '--health-interval'), ['10s']);
  assert.deepEqual(option(diego.args, '--health-start-period'), ['10s']);
  assert.equal(diego.waitSeconds, 10 + (10 + 5) * 4, 'the wait covers the start period and every retry');
  assert.equal(shellJoin(['a b', "it's", 'plain']), `'a b' 'it'\\''s' plain`);
});

test('the HA override merges over the base: DATABASE_URL with the password, postgres first, the base kept', () => {
  assert.deepEqual(ha.services.map((s) => s.name), ['diego', 'miguel', 'postgres', 'scheduler']);
  const scheduler = service(ha, 'scheduler');
  assert.ok(option(scheduler.args, '--env').includes('DATABASE_URL=postgres://pmf:pw@postgres:5432/pmf'));
  assert.ok(option(scheduler.args, '--env').includes('DIEGO_URL=http://diego:3001'), 'the base environment stays');
  assert.ok(scheduler.args.includes('--read-only'), 'the base read_only stays');
  assert.deepEqual(scheduler.needs.map((n) => n.service), ['diego', 'miguel', 'postgres']);
  assert.equal(service(ha, 'postgres').source, 'postgres:16-bookworm');
  assert.deepEqual(ha.volumes, ['p-scheduler-data', 'p-postgres-data']);
  assert.throws(() => composePlan([read('docker-compose.yml'), read('docker-compose.ha.yml')], 'p', {}), /POSTGRES_PASSWORD is required/);
});

test('substitution, durations, and what the reader refuses rather than drop', () => {
  assert.equal(substitute('${A:-x} ${B-y} ${C} $$HOME', { A: '', B: '', C: 'c' }), 'x  c $HOME');
  assert.equal(durationSeconds('1m30s'), 90);
  assert.throws(() => durationSeconds('15'), /not a duration/);
  const one = (service: string) => () => composePlan([`services:\n  s:\n${service}`], 'p', {});
  assert.throws(one('    build: .\n    ports: ["80:80"]\n'), /key ports is not turned into a run option/);
  assert.throws(one('    build: .\n    volumes:\n      - ./here:/app/data\n'), /only named volumes/);
  assert.throws(one('    build: .\n    depends_on:\n      - nope\n'), /depends on nope, which is no service/);
  assert.match(formatPlan(single), /^volume\x1fp-scheduler-data\nservice\x1fdiego\x1fbuild\n/);
});
