import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SETTINGS } from '../../src/config.ts';
import { startSimulator } from '../../src/diego/simulator.ts';
import { envOf, execForm, healthcheckOf, parseDockerfile, stagePlan, shellWords } from '../../scripts/dockerfile.ts';
import { projectRoot } from '../helpers/project-root.ts';
import { parseYamlSubset, type YamlValue } from '../helpers/yaml-subset.ts';

// These checks read the Dockerfile and the compose file for every property the packaging issue asks for, in
// milliseconds; scripts/image-check.sh (in CI) builds the image and runs the compose stacks for real.

const root = projectRoot();
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const stages = parseDockerfile(read('Dockerfile'));
const plan = stagePlan(stages);
const runtime = plan[plan.length - 1]!;
const runtimeStage = stages[stages.length - 1]!;
const manifest = JSON.parse(read('package.json')) as { bin: Record<string, string> };
const BIN = `${runtime.workdir}/${manifest.bin['pmf-scheduler']}`;
const VOLUME = '/app/data';

const runsOf = (name: string) => plan.find((s) => s.name === name)!.steps.filter((s) => s.kind !== 'copy').map((s) => s.command);
const copiesOf = (name: string) => plan.find((s) => s.name === name)!.steps.flatMap((s) => (s.kind === 'copy' ? [s] : []));
const inside = (path: string, dir: string) => path === dir || path.startsWith(`${dir}/`);

type Map = { [key: string]: YamlValue };
const asMap = (v: YamlValue | undefined, what: string): Map => {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} is a mapping`);
  return v as Map;
};
const composeText = read('docker-compose.yml');
const compose = asMap(parseYamlSubset(composeText), 'the compose file');
const services = asMap(compose.services, 'services');
const service = (name: string) => asMap(services[name], `service ${name}`);
const SIMULATORS = { diego: 'DIEGO_URL', miguel: 'MIGUEL_URL' } as const;

/** Compose durations such as `15s`, `1m30s`, `500ms`, in ms. */
function durationMs(text: string): number {
  const parts = [...text.matchAll(/(\d+(?:\.\d+)?)(ms|us|h|m|s)/g)];
  assert.equal(parts.map((p) => p[0]).join(''), text, `${text} is a compose duration`);
  const unit: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1, us: 0.001 };
  return parts.reduce((sum, p) => sum + Number(p[1]) * unit[p[2]!]!, 0);
}

/** Docker's .dockerignore rule: the last pattern that matches the path or one of its parents decides; `!` re-includes. */
function ignoredByDocker(patterns: string[], path: string): boolean {
  let ignored = false;
  const prefixes = path.split('/').map((_, i, parts) => parts.slice(0, i + 1).join('/'));
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const glob = (negate ? raw.slice(1) : raw).replace(/^\/+|\/+$/g, '');
    const re = new RegExp(`^${glob.split(/(\*\*|\*|\?)/).map((p) => ({ '**': '.*', '*': '[^/]*', '?': '[^/]' })[p] ?? p.replace(/[.+^${}()|[\]\\]/g, '\\$&')).join('')}$`);
    if (prefixes.some((p) => re.test(p))) ignored = !negate;
  }
  return ignored;
}

test('the Dockerfile is multi-stage, every stage on one Node LTS image, the runtime last', () => {
  assert.ok(stages.length >= 2, 'a build stage and a runtime stage at least');
  assert.deepEqual(new Set(stages.map((s) => s.image)).size, 1, 'one base image, so the native module is built for the runtime Node and glibc');
  const major = Number(/^node:(\d+)-/.exec(runtimeStage.image)?.[1]);
  assert.ok(major >= 24 && major % 2 === 0, `${runtimeStage.image} is a supported Node LTS (even major, 24 or later)`);
  assert.equal(runtimeStage.name, 'runtime');
  assert.match(read('scripts/test-node24.sh'), /FROM node:.* AS runtime/, 'CI reads the Node major it tests from the runtime stage');
});

test('the native module is compiled in a build stage with python3, make and g++; the runtime stage has no compiler', () => {
  const compiling = plan.filter((s) => s !== runtime && runsOf(s.name).some((c) => /\bnpm ci\b.*--omit=dev/.test(c)));
  assert.equal(compiling.length, 1, 'one stage makes the clean production install');
  const tools = runsOf(compiling[0]!.name).find((c) => /apt-get install/.test(c)) ?? '';
  for (const tool of ['python3', 'make', 'g++']) assert.ok(shellWords(tools).includes(tool), `${compiling[0]!.name} installs ${tool}`);
  for (const c of runsOf(runtime.name)) {
    const words = shellWords(c);
    for (const tool of ['g++', 'gcc', 'make', 'python3', 'build-essential']) assert.ok(!words.includes(tool), `runtime stage installs no ${tool}: ${c}`);
    assert.ok(!words.includes('npm'), `runtime stage runs no npm: ${c}`);
  }
});

test('the runtime stage holds only production dependencies, the build output and package.json', () => {
  const copies = copiesOf(runtime.name);
  const depsCopy = copies.find((c) => c.dest === `${runtime.workdir}/node_modules/`);
  assert.ok(depsCopy?.from, 'node_modules comes from another stage');
  assert.ok(runsOf(depsCopy.from).some((c) => /^npm ci\b/.test(c) && shellWords(c).includes('--omit=dev')), `${depsCopy.from} runs npm ci --omit=dev`);
  assert.deepEqual(copiesOf(depsCopy.from).map((c) => c.source).sort(), ['package-lock.json', 'package.json'], 'the dependency stage sees the manifests only');
  const distCopy = copies.find((c) => c.dest === `${runtime.workdir}/dist/`);
  assert.ok(distCopy?.from, 'dist comes from another stage');
  assert.ok(runsOf(distCopy.from).some((c) => /^npm run build\b/.test(c)), `${distCopy.from} runs npm run build`);
  assert.deepEqual(
    copies.filter((c) => c.from === undefined).map((c) => c.source),
    ['package.json'],
    'from the build context only package.json (its "type": "module" makes dist/ load as ES modules)',
  );
  assert.equal(copies.length, 3);
});

test('the image runs as a non-root user, exposes no port and declares VOLUME /app/data holding DATABASE_URL', () => {
  assert.ok(runtime.user, 'USER is set');
  assert.doesNotMatch(runtime.user, /^(root|0)(:|$)/, 'not root');
  assert.deepEqual(stages.flatMap((s) => s.instructions.filter((i) => i.keyword === 'EXPOSE')), [], 'no EXPOSE');
  assert.deepEqual(runtime.volumes, [VOLUME]);
  assert.ok(inside(runtime.env.DATABASE_URL ?? '', VOLUME), `DATABASE_URL=${runtime.env.DATABASE_URL} is in ${VOLUME}`);
  // Changes after VOLUME are discarded, so the data directory must be given to the user before it.
  const order = runtimeStage.instructions.map((i) => i.keyword);
  const chown = runtimeStage.instructions.findIndex((i) => i.keyword === 'RUN' && new RegExp(`chown ${runtime.user}(:\\S+)? ${VOLUME}(\\s|$)`).test(i.args));
  assert.ok(chown >= 0 && chown < order.indexOf('VOLUME'), `${VOLUME} is chowned to ${runtime.user} before VOLUME`);
});

test('every documented default is set as ENV, except unset ones (the token) and the database (in the volume)', () => {
  const extras = ['NODE_ENV', 'SQLITE_TMPDIR'];
  for (const s of Object.values(SETTINGS)) {
    if (s.secret || s.default === '') assert.equal(runtime.env[s.env], undefined, `${s.env} is unset by default (a secret is never baked into an image)`);
    else if (s.env !== 'DATABASE_URL') assert.equal(runtime.env[s.env], s.default, `ENV ${s.env}`);
  }
  const known = new Set([...Object.values(SETTINGS).map((s) => s.env), ...extras]);
  assert.deepEqual(Object.keys(runtime.env).filter((k) => !known.has(k)), [], 'no ENV the agent does not read');
  assert.equal(runtime.env.NODE_ENV, 'production');
});

test('an init (tini) is PID 1 and runs pmf-scheduler, which is the built CLI linked into PATH', () => {
  assert.deepEqual(runtime.entrypoint, ['/usr/bin/tini', '--', 'pmf-scheduler'], 'exec form, so tini and not a shell gets SIGTERM');
  assert.ok(runsOf(runtime.name).some((c) => /apt-get install\b/.test(c) && shellWords(c).includes('tini')), 'the runtime stage installs tini');
  assert.deepEqual(runtime.cmd, ['run'], 'CMD is the default command, replaced by `docker compose run scheduler history`');
  assert.ok(runsOf(runtime.name).some((c) => c.includes(`ln -s ${BIN} /usr/local/bin/pmf-scheduler`)), `pmf-scheduler links to ${BIN}`);
  const built = plan.find((s) => runsOf(s.name).some((c) => /^npm run build\b/.test(c)))!;
  assert.ok(runsOf(built.name).some((c) => c.includes(`chmod +x ${manifest.bin['pmf-scheduler']}`)), 'the CLI is executable');
});

test('HEALTHCHECK runs `pmf-scheduler healthcheck` in exec form with bounded timings', () => {
  const checks = runtimeStage.instructions.filter((i) => i.keyword === 'HEALTHCHECK');
  assert.equal(checks.length, 1);
  const check = healthcheckOf(checks[0]!)!;
  assert.deepEqual(check.command, ['pmf-scheduler', 'healthcheck']);
  const interval = durationMs(check.options.interval ?? '');
  const timeout = durationMs(check.options.timeout ?? '');
  assert.ok(timeout > 0 && timeout < interval, `timeout ${timeout} ms below interval ${interval} ms`);
  assert.ok(Number(check.options.retries) >= 1, 'retries set');
  assert.ok(durationMs(check.options['start-period'] ?? '') >= interval, 'a start period for the readiness wait');
});

test('a read-only root filesystem is enough: nothing at run time writes outside /app/data', () => {
  assert.equal(runtime.workdir, '/app');
  assert.ok(inside(runtime.env.SQLITE_TMPDIR ?? '', VOLUME), "SQLite's temporary files go to the volume");
  for (const words of [runtime.entrypoint, runtime.cmd, runtime.healthcheck ?? []]) {
    assert.ok(!words.some((w) => /^(npm|npx)$/.test(w)), `no npm at run time (it writes logs and a cache): ${words.join(' ')}`);
  }
});

test('.dockerignore lets in every file a COPY needs and keeps out node_modules, dist, data and .git', () => {
  const patterns = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  const sources = plan.flatMap((s) => s.steps.flatMap((step) => (step.kind === 'copy' && step.from === undefined ? [step.source.replace(/\/$/, '')] : [])));
  assert.ok(sources.length > 0);
  for (const source of sources) {
    const path = join(root, source);
    const files = statSync(path).isDirectory() ? readdirSync(path, { recursive: true }).map((f) => `${source}/${String(f)}`) : [source];
    for (const f of files) assert.equal(ignoredByDocker(patterns, f), false, `${f} reaches the build context`);
  }
  for (const f of ['node_modules/kysely/package.json', 'dist/src/cli.js', 'data/pmf-scheduler.db', '.git/HEAD', 'test/config.test.ts']) {
    assert.equal(ignoredByDocker(patterns, f), true, `${f} stays out of the build context`);
  }
});

test('compose: the scheduler is built here, keeps its data in a named volume and publishes no port', () => {
  const scheduler = service('scheduler');
  assert.equal(scheduler.build, '.');
  assert.equal(scheduler.ports, undefined);
  const mounts = scheduler.volumes as string[];
  const data = mounts.find((m) => m.split(':')[1] === VOLUME);
  assert.ok(data, `a volume on ${VOLUME}`);
  const name = data.split(':')[0]!;
  assert.match(name, /^[A-Za-z0-9][\w.-]*$/, 'a named volume, not a bind mount');
  assert.ok(Object.hasOwn(asMap(compose.volumes, 'volumes'), name), `${name} is declared under volumes`);
});

test('compose: diego and miguel run the built-in simulator and the scheduler points at them', () => {
  const env = asMap(service('scheduler').environment, 'scheduler environment');
  for (const [name, variable] of Object.entries(SIMULATORS)) {
    const sim = service(name);
    assert.equal(sim.build, '.', `${name} uses this image`);
    const command = sim.command as string[];
    assert.deepEqual(command.slice(0, 3), ['simulator', '--host', '0.0.0.0'], `${name} listens on every interface of its container`);
    assert.equal(command[3], '--port');
    assert.equal(env[variable] ?? runtime.env[variable], `http://${name}:${command[4]}`, `${variable} points at ${name}`);
  }
});

test('compose: the scheduler waits for healthy simulators, whose health checks need only node', async () => {
  const dependsOn = asMap(service('scheduler').depends_on, 'depends_on');
  for (const name of Object.keys(SIMULATORS)) {
    assert.deepEqual(dependsOn[name], { condition: 'service_healthy' }, `scheduler waits for a healthy ${name}`);
    const health = asMap(service(name).healthcheck, `${name} healthcheck`);
    for (const key of ['interval', 'timeout']) assert.ok(durationMs(String(health[key])) > 0, `${name} healthcheck ${key}`);
    const [form, program, flag, script, ...more] = health.test as string[];
    assert.deepEqual([form, program, flag, more], ['CMD', 'node', '-e', []], `${name}: node -e, since the image has no curl`);
    const port = (service(name).command as string[])[4];
    const target = `'http://127.0.0.1:${port}/health'`;
    assert.ok(script!.includes(target), `${name} checks ${target}`);

    // Run the one-liner for real against the simulator: exit 0 while it answers, 1 once it is gone.
    const sim = await startSimulator({ port: 0 });
    const local = script!.replace(target, `'${sim.url}/health'`);
    const run = promisify(execFile);
    try {
      await run(process.execPath, ['-e', local], { timeout: 10_000 });
    } finally {
      await sim.close();
    }
    await assert.rejects(run(process.execPath, ['-e', local], { timeout: 10_000 }), (err: { code?: number }) => err.code === 1);
  }
});

test('compose: stop_grace_period exceeds SHUTDOWN_GRACE_MS, so SIGKILL never cuts a drain short', () => {
  const scheduler = service('scheduler');
  const env = asMap(scheduler.environment, 'scheduler environment');
  const grace = Number(env.SHUTDOWN_GRACE_MS ?? runtime.env.SHUTDOWN_GRACE_MS);
  assert.ok(grace > 0);
  // Issue 5: the agent exits within SHUTDOWN_GRACE_MS plus 1 s; leave that second and more.
  assert.ok(durationMs(String(scheduler.stop_grace_period)) > grace + 1000, `stop_grace_period ${scheduler.stop_grace_period} vs ${grace} ms`);
});

test('compose: every service has a read-only root filesystem', () => {
  for (const name of ['scheduler', ...Object.keys(SIMULATORS)]) assert.equal(service(name).read_only, true, name);
  assert.deepEqual(Object.keys(services).sort(), ['diego', 'miguel', 'scheduler']);
});

test('compose: a comment shows how to point at the real Diego and Miguel images', () => {
  const comments = composeText.split('\n').filter((l) => l.trimStart().startsWith('#')).join('\n');
  for (const name of Object.keys(SIMULATORS)) {
    assert.match(comments, new RegExp(`^#\\s+${name}:\\s*\\n#\\s+image:\\s*\\S*${name}\\S*`, 'm'), `an example image for ${name}`);
  }
});

test('the Dockerfile reader joins continuations, reads ENV quoting and refuses what it does not model', () => {
  const [stage] = parseDockerfile('# syntax=docker/dockerfile:1\nFROM node:24 AS b\nENV A=1 \\\n# a comment inside\n    B="two words" C=\'x y\'\nCOPY --from=b --chown=1:1 /a ./\n');
  const [env, copy] = stage!.instructions;
  assert.deepEqual(envOf(env!.args), { A: '1', B: 'two words', C: 'x y' });
  assert.deepEqual(envOf('LEGACY some value'), { LEGACY: 'some value' });
  assert.deepEqual(copy!.flags, { from: 'b', chown: '1:1' });
  assert.equal(copy!.line, 6);
  assert.deepEqual(execForm('["a", "b c"]'), ['a', 'b c']);
  assert.equal(execForm('a b'), undefined);
  assert.throws(() => parseDockerfile('FROM x\nARG V=1\n'), /line 2: ARG is not supported/);
  assert.throws(() => parseDockerfile('FROM x\nENV A=$HOME\n'), /line 2: variable substitution/);
  assert.throws(() => stagePlan(parseDockerfile('FROM x\nCOPY --from=nope /a /b\n')), /names no earlier stage/);
  assert.throws(() => parseDockerfile('RUN x\n'), /before the first FROM/);
});

test('the YAML reader reads the compose subset exactly and refuses the rest', () => {
  const doc = parseYamlSubset(
    'a:\n  b: "x: y" # c\n  c: [ "p q", \'it\'\'s\', 3 ]\n  d:\n    - k: v\n      n: 1\n    - plain text\n  e:\n  - true\n  f:\n  g: ${X:-}\n',
  );
  assert.deepEqual(doc, { a: { b: 'x: y', c: ['p q', "it's", 3], d: [{ k: 'v', n: 1 }, 'plain text'], e: [true], f: null, g: '${X:-}' } });
  for (const [text, error] of [
    ['a: &x 1', /unsupported/],
    ['a: *x', /unsupported/],
    ['a: {b: 1}', /unsupported/],
    ['a: |\n  text', /unsupported/],
    ['a: 1\na: 2', /line 2: duplicate key a/],
    ['a:\n\tb: 1', /line 2: tab/],
    ['a: 1\n---\nb: 2', /several documents/],
    ['a:\n    b: 1\n  c: 2', /line 3: unexpected/],
    ['a: [1, [2]]', /nested flow/],
    ['a: b: c', /cannot hold/],
  ] as const) {
    assert.throws(() => parseYamlSubset(text), error, text);
  }
});
