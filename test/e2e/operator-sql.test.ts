import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analysisOk } from '../helpers/diego-stub.ts';
import { spawnCli, type CliProcess } from '../helpers/cli-process.ts';
import { BACKENDS, backendTest, PG_URL, tempSchema } from '../helpers/backends.ts';
import { scene } from '../helpers/scene.ts';
import { within } from '../helpers/wait.ts';

// An operator finding a cycle by the Idempotency-Key Diego logged: `history --key`, and their own SQL in the
// `sqlite3` shell or `psql` through the views `cycles_v` and `attempts_v`.

const ISO_MS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; out: string; err: string; p: CliProcess }> {
  const p = spawnCli(args, env);
  try {
    const { code } = await within(p.exited, 15_000, `pmf-scheduler ${args.join(' ')}`);
    return { code, out: p.stdout.join('\n'), err: p.stderr.join('\n'), p };
  } finally {
    p.kill('SIGKILL');
  }
}

/** The operator's own query, in the backend's own shell, as JSON rows. */
function shellQuery(backend: string, db: string, query: string, schema?: string): Record<string, unknown>[] {
  if (backend === 'sqlite') {
    const out = execFileSync('sqlite3', ['-readonly', '-json', db, query], { encoding: 'utf8' });
    return out.trim() === '' ? [] : (JSON.parse(out) as Record<string, unknown>[]);
  }
  // psql reads the schema from PGOPTIONS (it does not decode the URL's `+` in `options` as a space).
  const out = execFileSync('psql', [PG_URL, '-X', '-A', '-t', '-c', `select coalesce(json_agg(q), '[]') from (${query}) q`], {
    encoding: 'utf8',
    env: { ...process.env, PGOPTIONS: `-c search_path=${schema}` },
  });
  return JSON.parse(out) as Record<string, unknown>[];
}

for (const backend of BACKENDS) {
  test(`[${backend}] history --key finds a cycle by its Idempotency-Key; cycles_v and attempts_v show text UUIDs and ISO times`, backendTest(backend), async (ctx) => {
    const s = scene(ctx);
    const stub = await s.stub([{ status: 503, body: { success: false, error: 'warming up' } }, { status: 200, body: analysisOk() }]);
    const schema = backend === 'postgres' ? await tempSchema() : undefined;
    if (schema) s.defer(() => schema.drop());
    const db = schema ? schema.url : join(s.dir(), 'history.db');
    const agent = s.cli(['run'], { DIEGO_URL: stub.url, DATABASE_URL: db, MIGUEL_URL: '', CRON_PATTERN: '0 0 0 1 1 *', STATS_INTERVAL_MS: '0', RETRY_DELAY_MS: '0' });
    await agent.line(/Scalping cycle completed successfully/, 15_000);
    agent.kill('SIGTERM');
    assert.equal((await within(agent.exited, 10_000, 'the agent to stop')).code, 0);
    const key = String(stub.received[0]!.headers['idempotency-key']);
    const requestIds = stub.received.map((r) => String(r.headers['x-request-id']));

    const found = await run(['history', '--key', key.toUpperCase(), '--json', '--db', db]);
    assert.equal(found.code, 0, found.err);
    const rows = JSON.parse(found.out) as { id: number; scheduledAt: string; status: string }[];
    assert.deepEqual(rows.map((r) => r.status), ['succeeded']);
    const other = await run(['history', '--key', '00000000-0000-4000-8000-000000000000', '--db', db]);
    assert.equal(other.out, 'No cycles match these filters');
    const bad = await run(['history', '--key', 'not-a-uuid', '--db', db]);
    assert.equal(bad.code, 2);
    assert.equal(bad.err, 'pmf-scheduler: Invalid --key "not-a-uuid": expected a UUID such as 0b6f7c1e-4a2d-4c8e-9f10-2a3b4c5d6e7f');

    const cycles = shellQuery(backend, db, `select * from cycles_v where idempotency_key = '${key}'`, schema?.schema);
    assert.equal(cycles.length, 1, JSON.stringify(cycles));
    const c = cycles[0]!;
    assert.equal(c.id, rows[0]!.id);
    assert.equal(c.scheduled_at, rows[0]!.scheduledAt);
    for (const col of ['scheduled_at', 'deadline_at', 'started_at', 'finished_at']) assert.match(String(c[col]), ISO_MS, col);
    assert.equal(c.lease_until, null);
    assert.equal(c.status, 'succeeded');
    const attempts = shellQuery(backend, db, `select * from attempts_v where cycle_id = ${c.id} order by number`, schema?.schema);
    assert.deepEqual(attempts.map((a) => [a.number, a.request_id, a.outcome]), [
      [1, requestIds[0], 'http_error'],
      [2, requestIds[1], 'ok'],
    ]);
    for (const a of attempts) assert.match(String(a.started_at), ISO_MS);
    // The views are for reading: the agent's tables stay what they were.
    assert.deepEqual(shellQuery(backend, db, 'select count(*) as n from cycles', schema?.schema), [{ n: 1 }]);
  });
}
