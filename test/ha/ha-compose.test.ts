import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseConfig } from '../../src/config.ts';
import { projectRoot } from '../helpers/project-root.ts';
import { parseYamlSubset, type YamlValue } from '../helpers/yaml-subset.ts';

// The HA compose override, read as docker compose would merge it over docker-compose.yml (no Docker engine here).

type Map = { [key: string]: YamlValue };
const asMap = (v: YamlValue | undefined, what: string): Map => {
  assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what} is a mapping`);
  return v as Map;
};
const read = (file: string) => asMap(parseYamlSubset(readFileSync(join(projectRoot(), file), 'utf8')), file);
const base = asMap(read('docker-compose.yml').services, 'base services');
const ha = read('docker-compose.ha.yml');
const services = asMap(ha.services, 'HA services');

test('HA compose: the scheduler, scalable, points DATABASE_URL at the postgres service and waits for it to be healthy', () => {
  const scheduler = asMap(services.scheduler, 'scheduler');
  const url = String(asMap(scheduler.environment, 'environment').DATABASE_URL);
  // Compose substitutes the password from .env; with a value in its place the URL is one the agent accepts.
  const resolved = url.replace(/\$\{POSTGRES_PASSWORD:\?[^}]*\}/, 'pw');
  assert.match(resolved, /^postgres:\/\/pmf:pw@postgres:5432\/pmf$/);
  const parsed = parseConfig({ DATABASE_URL: resolved });
  assert.ok('config' in parsed && parsed.config.database.kind === 'postgres', 'a PostgreSQL target');
  assert.deepEqual(asMap(scheduler.depends_on, 'depends_on').postgres, { condition: 'service_healthy' });
  // --scale needs a service that names no container and publishes no port, in either file.
  for (const s of [scheduler, asMap(base.scheduler, 'base scheduler')]) {
    assert.equal(s.container_name, undefined);
    assert.equal(s.ports, undefined);
  }
});

test('HA compose: postgres keeps its data in a named volume, takes its password from .env and has a health check', () => {
  const pg = asMap(services.postgres, 'postgres');
  assert.match(String(pg.image), /^postgres:\d+/);
  const env = asMap(pg.environment, 'postgres environment');
  assert.equal(env.POSTGRES_PASSWORD, '${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}', 'no password in the file');
  assert.deepEqual([env.POSTGRES_USER, env.POSTGRES_DB], ['pmf', 'pmf']);
  const [volume] = pg.volumes as string[];
  assert.equal(volume!.split(':')[1], '/var/lib/postgresql/data');
  assert.ok(Object.hasOwn(asMap(ha.volumes, 'volumes'), volume!.split(':')[0]!));
  assert.deepEqual((asMap(pg.healthcheck, 'healthcheck').test as string[]).slice(0, 2), ['CMD', 'pg_isready']);
});
