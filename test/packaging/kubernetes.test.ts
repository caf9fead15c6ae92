import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Secret } from 'kubernetes-models/v1/Secret';
import { SETTINGS } from '../../src/config.ts';
import { envOf, healthcheckOf, parseDockerfile } from '../../scripts/dockerfile.ts';
import { projectRoot } from '../helpers/project-root.ts';
import { parseYamlSubset } from '../helpers/yaml-subset.ts';

// deploy/kubernetes/ checked against the Kubernetes API schemas (kubernetes-models: each resource's OpenAPI schema
// compiled to a validator) and for each property issue 25 asks of it. No cluster runs here.

const dir = join(projectRoot(), 'deploy/kubernetes');
const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
const docs = files.map((f) => ({ file: f, doc: parseYamlSubset(readFileSync(join(dir, f), 'utf8')) as Record<string, any> }));
const MODELS: Record<string, (data: any) => { validate(): void }> = {
  'apps/v1 Deployment': (d) => new Deployment(d),
  'v1 Secret': (d) => new Secret(d),
};
const validate = (doc: Record<string, any>) => {
  const model = MODELS[`${doc.apiVersion} ${doc.kind}`];
  assert.ok(model, `${doc.apiVersion} ${doc.kind} has a validator here`);
  model(doc).validate();
};

const deployment = docs.find((d) => d.doc.kind === 'Deployment')!.doc;
const pod = deployment.spec.template.spec;
const [container] = pod.containers;
const env = (name: string) => container.env.find((e: { name: string }) => e.name === name);
const dockerfile = parseDockerfile(readFileSync(join(projectRoot(), 'Dockerfile'), 'utf8'));
const runtime = dockerfile[dockerfile.length - 1]!.instructions;
const imageEnv = Object.assign({}, ...runtime.filter((i) => i.keyword === 'ENV').map((i) => envOf(i.args))) as Record<string, string>;

test('every manifest in deploy/kubernetes is valid against the Kubernetes API schema of its kind', () => {
  assert.deepEqual(files, ['deployment.yaml', 'secret.example.yaml']);
  for (const { file, doc } of docs) assert.doesNotThrow(() => validate(doc), file);
});

test('the schema validation is not vacuous: a wrong type or a missing required field is refused', () => {
  const copy = () => structuredClone(deployment);
  const wrongType = copy();
  wrongType.spec.template.spec.containers[0].livenessProbe.exec.command = 'pmf-scheduler healthcheck';
  assert.throws(() => validate(wrongType), /livenessProbe\/exec\/command must be array/);
  const noSelector = copy();
  delete noSelector.spec.selector;
  assert.throws(() => validate(noSelector), /selector/);
  const badGrace = copy();
  badGrace.spec.template.spec.terminationGracePeriodSeconds = 'fifteen';
  assert.throws(() => validate(badGrace), /terminationGracePeriodSeconds/);
});

test('a Deployment of several replicas sharing PostgreSQL: DATABASE_URL from a Secret, REPLICA_ID from the pod name', () => {
  assert.ok(deployment.spec.replicas >= 2, 'replicas share the slots');
  assert.deepEqual(env('DATABASE_URL').valueFrom, { secretKeyRef: { name: 'pmf-scheduler', key: 'DATABASE_URL' } });
  assert.equal(env('DATABASE_URL').value, undefined, 'no database URL (a password) in the manifest');
  assert.deepEqual(env('REPLICA_ID').valueFrom, { fieldRef: { fieldPath: 'metadata.name' } });
  const secret = docs.find((d) => d.doc.kind === 'Secret')!.doc;
  assert.equal(secret.metadata.name, 'pmf-scheduler');
  assert.match(secret.stringData.DATABASE_URL, /^postgres:\/\//, 'the example Secret holds a PostgreSQL URL');
  for (const e of container.env) {
    assert.ok(Object.values(SETTINGS).some((s) => s.env === e.name), `${e.name} is a setting the agent reads`);
    if (Object.values(SETTINGS).find((s) => s.env === e.name)?.secret) assert.equal(e.value, undefined, `${e.name} comes from the Secret`);
  }
});

test("exec liveness and startup probes run the image's HEALTHCHECK command", () => {
  const check = healthcheckOf(runtime.find((i) => i.keyword === 'HEALTHCHECK')!)!;
  for (const probe of ['startupProbe', 'livenessProbe']) {
    assert.deepEqual(container[probe].exec.command, check.command, `${probe} runs ${check.command.join(' ')}`);
    assert.ok(container[probe].timeoutSeconds >= 5, `${probe}: a timeout the command (a Node start and a query) fits in`);
  }
  assert.equal(container.readinessProbe, undefined, 'no readiness probe: nothing is served');
});

test('terminationGracePeriodSeconds exceeds SHUTDOWN_GRACE_MS, so SIGKILL never cuts a drain short', () => {
  const grace = Number(env('SHUTDOWN_GRACE_MS')?.value ?? imageEnv.SHUTDOWN_GRACE_MS);
  assert.ok(grace > 0);
  // The agent exits within SHUTDOWN_GRACE_MS plus 1 s (issue 5); leave that second and more.
  assert.ok(pod.terminationGracePeriodSeconds * 1000 > grace + 1000, `${pod.terminationGracePeriodSeconds} s vs ${grace} ms`);
});

test("non-root, read-only root filesystem, no capabilities, no privilege escalation, the image's uid", () => {
  assert.equal(pod.securityContext.runAsNonRoot, true);
  const user = runtime.filter((i) => i.keyword === 'USER').pop()?.args;
  assert.equal(user, 'node');
  assert.equal(pod.securityContext.runAsUser, 1000, "the official node image's uid, which owns /app/data");
  assert.equal(container.securityContext.readOnlyRootFilesystem, true);
  assert.equal(container.securityContext.allowPrivilegeEscalation, false);
  assert.deepEqual(container.securityContext.capabilities, { drop: ['ALL'] });
  assert.equal(pod.automountServiceAccountToken, false, 'the agent never talks to the Kubernetes API');
  assert.ok(pod.volumes.some((v: { name: string; emptyDir?: unknown }) => v.emptyDir && container.volumeMounts.some((m: { name: string; mountPath: string }) => m.name === v.name && m.mountPath === '/app/data')), '/app/data is writable (SQLITE_TMPDIR)');
});

test('no port and no Service: the agent listens on nothing', () => {
  assert.equal(container.ports, undefined);
  assert.deepEqual(docs.filter((d) => d.doc.kind === 'Service'), []);
  assert.equal(pod.hostNetwork, undefined);
});

test('the pod runs the image as built: its entrypoint with the run command', () => {
  assert.equal(container.command, undefined, "the image's ENTRYPOINT (tini, then pmf-scheduler) stays");
  assert.deepEqual(container.args, ['run']);
});
