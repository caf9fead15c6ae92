import { randomBytes } from 'node:crypto';
import { connect } from 'node:net';
import { test, type TestOptions } from 'node:test';
import pg from 'pg';
import type { DatabaseTarget } from '../../src/config.ts';
import { openDatabase } from '../../src/store/open.ts';
import type { Database, OpenOptions } from '../../src/store/port.ts';
import { errorLine } from '../../src/log/error-line.ts';
import { tempDatabase } from './temp-db.ts';

/** The machine's PostgreSQL (trust auth; `.ci/run` starts it when it is down). Each test gets its own schema in it. */
export const PG_HOST = '127.0.0.1';
export const PG_PORT = 5432;
export const PG_URL = `postgres://postgres@${PG_HOST}:${PG_PORT}/test`;

/**
 * Why the PostgreSQL tests are skipped in this process, or undefined when they run: the server did not take a TCP
 * connection within a second. Probed once per test file (each runs in its own process) before any test is declared,
 * so a machine without PostgreSQL gets a skip line instead of tests that wait on connections or leak what they
 * started. `PMF_TEST_PG=required` (CI) runs them anyway, so they fail and say why.
 */
export const PG_SKIP: string | undefined = process.env.PMF_TEST_PG === 'required' ? undefined : await pgUnreachable(PG_HOST, PG_PORT);

/** The options of a test that needs the machine's PostgreSQL: skipped, and counted, when it is not reachable. */
export function pgTest(): TestOptions {
  if (PG_SKIP === undefined) return {};
  if (skipped++ === 0) process.once('exit', () => process.stderr.write(`${PG_SKIP}: ${skipped} test(s) of ${process.argv[1]} skipped; set PMF_TEST_PG=required to fail instead\n`));
  return { skip: PG_SKIP };
}
let skipped = 0;

function pgUnreachable(host: string, port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 1000 });
    const done = (reason: string | undefined) => {
      socket.destroy();
      resolve(reason === undefined ? undefined : `PostgreSQL not reachable at ${host}:${port} (${reason})`);
    };
    socket.once('connect', () => done(undefined));
    socket.once('timeout', () => done('no answer within 1 s'));
    socket.once('error', (err) => done(errorLine(err)));
  });
}

/** The backends the store, history, stats, healthcheck and prune suites run against. */
export const BACKENDS = ['sqlite', 'postgres'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** A fresh, migrated database of either backend. */
export interface TestDatabase extends Database {
  backend: BackendName;
  /** What `--db` and DATABASE_URL take: the SQLite file, or the PostgreSQL URL that selects the test's schema. */
  path: string;
  /** The same, as the configuration holds it (for openDatabase and the agent harness). */
  target: DatabaseTarget;
  cleanup(): Promise<void>;
}

/** `url` with `options=-c search_path=<schema>`: every connection made from it works in that schema. */
export function withSearchPath(url: string, schema: string): string {
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${schema}`);
  return u.href;
}

/** Runs statements on one short-lived connection (schemas are created and dropped outside the code under test). */
export async function pgAdmin<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${new URL(url).host} (${errorLine(err)}): the PostgreSQL tests need it running (.ci/run starts it)`);
  }
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => {});
  }
}

const SCHEMA_PREFIX = 'pmf_test_';
/** Schemas left by a test run that was killed before its cleanup are dropped by a later run after this long. */
const LEFTOVER_AFTER_S = 3600;

/**
 * A new, empty schema on the server at `url` (the shared one by default), named `pmf_test_<epoch s>_<random>`, and
 * the URL that works in it; `drop` removes it with everything in it. Leftovers of killed runs are dropped here.
 */
export async function tempSchema(url = PG_URL): Promise<{ schema: string; url: string; drop(): Promise<void> }> {
  const now = Math.floor(Date.now() / 1000);
  const schema = `${SCHEMA_PREFIX}${now}_${randomBytes(4).toString('hex')}`;
  await pgAdmin(url, async (c) => {
    const old = await c.query<{ nspname: string }>(`select nspname from pg_namespace where nspname like '${SCHEMA_PREFIX}%'`);
    for (const { nspname } of old.rows) {
      const born = Number(nspname.slice(SCHEMA_PREFIX.length).split('_')[0]);
      if (born < now - LEFTOVER_AFTER_S) await c.query(`drop schema if exists "${nspname}" cascade`).catch(() => {});
    }
    await c.query(`create schema "${schema}"`);
  });
  return {
    schema,
    url: withSearchPath(url, schema),
    drop: () => pgAdmin(url, async (c) => void (await c.query(`drop schema if exists "${schema}" cascade`))),
  };
}

/** A migrated PostgreSQL database in a schema of its own, dropped by `cleanup`. */
export async function tempPostgres(opts: OpenOptions = {}): Promise<TestDatabase> {
  const s = await tempSchema();
  let db: Database;
  try {
    db = await openDatabase({ kind: 'postgres', url: s.url }, opts);
  } catch (err) {
    await s.drop();
    throw err;
  }
  return {
    ...db,
    backend: 'postgres',
    path: s.url,
    target: { kind: 'postgres', url: s.url },
    cleanup: async () => {
      await db.close().catch(() => {});
      await s.drop();
    },
  };
}

/** A fresh migrated database on `backend`: a SQLite file in a temp dir, or a PostgreSQL schema of its own. */
export async function tempDatabaseOn(backend: BackendName, opts: OpenOptions = {}): Promise<TestDatabase> {
  if (backend === 'postgres') return tempPostgres(opts);
  const t = await tempDatabase(opts);
  return { ...t, backend, target: { kind: 'sqlite', path: t.path } };
}

/** The options of a test on `backend`: a PostgreSQL one is skipped when the server is not reachable (PG_SKIP). */
export function backendTest(backend: BackendName): TestOptions {
  return backend === 'postgres' ? pgTest() : {};
}

/** Declares one test per backend, named `[sqlite] …` and `[postgres] …`; `fn` gets the backend. */
export function testOnEveryBackend(name: string, fn: (backend: BackendName) => Promise<void>): void {
  for (const backend of BACKENDS) test(`[${backend}] ${name}`, backendTest(backend), () => fn(backend));
}
