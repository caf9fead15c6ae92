import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { analysisOk, freePort } from '../helpers/diego-stub.ts';
import { spawnCli, type CliProcess } from '../helpers/cli-process.ts';
import { PG_HOST, PG_PORT, pgTest, tempSchema } from '../helpers/backends.ts';
import { tempDir } from '../helpers/temp-db.ts';
import { within } from '../helpers/wait.ts';

// Credentials in URLs as operators write them, through the real binary: Basic auth for a reverse proxy in front of
// Diego or Miguel, and PostgreSQL passwords holding characters a pattern cannot find the end of.

const ONCE_A_YEAR = '0 0 0 1 1 *';

interface Seen {
  method: string;
  path: string;
  authorization: string | undefined;
}

/** A real HTTP server that records every request and answers with `answer` (Diego's /analyze and /health). */
async function recordingServer(answer: (req: IncomingMessage) => { status: number; body?: string; headers?: Record<string, string> }): Promise<{ url: string; seen: Seen[]; server: Server }> {
  const seen: Seen[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      seen.push({ method: req.method ?? '', path: req.url ?? '', authorization: req.headers.authorization });
      const a = answer(req);
      res.writeHead(a.status, { 'content-type': 'application/json', ...a.headers }).end(a.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server };
}

const close = (s: Server) => new Promise<void>((resolve) => (s.closeAllConnections(), s.close(() => resolve())));
const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
const everything = (p: CliProcess) => [...p.stdout, ...p.stderr].join('\n');

async function finished(p: CliProcess, what: string): Promise<number | null> {
  try {
    return (await within(p.exited, 15_000, what)).code;
  } finally {
    p.kill('SIGKILL');
  }
}

test('DIEGO_URL and MIGUEL_URL with user:password@ send Basic auth on /health and /analyze, never log or store it', async () => {
  const diegoPassword = 'p@ss w:rd%';
  const miguelPassword = 'miguel-Secret-42';
  const diego = await recordingServer((req) => (req.url === '/health' ? { status: 200, body: '{}' } : { status: 200, body: JSON.stringify(analysisOk()) }));
  const miguel = await recordingServer(() => ({ status: 200, body: '{}' }));
  const t = tempDir();
  try {
    const dbPath = join(t.dir, 'history.db');
    const withLogin = (url: string, user: string, password: string) => url.replace('http://', `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@`);
    const agent = spawnCli(['run'], {
      DIEGO_URL: withLogin(diego.url, 'sched', diegoPassword),
      MIGUEL_URL: withLogin(miguel.url, 'ops', miguelPassword),
      DATABASE_URL: dbPath,
      CRON_PATTERN: ONCE_A_YEAR,
      STATS_INTERVAL_MS: '0',
    });
    try {
      await agent.line(/Scalping cycle completed successfully/, 15_000);
      agent.kill('SIGTERM');
      assert.equal(await finished(agent, 'the agent to stop'), 0, everything(agent));
    } finally {
      agent.kill('SIGKILL');
    }
    assert.deepEqual(
      diego.seen.map((s) => [s.method, s.path, s.authorization]),
      [
        ['GET', '/health', basic('sched', diegoPassword)],
        ['POST', '/analyze', basic('sched', diegoPassword)],
      ],
    );
    assert.deepEqual(miguel.seen.map((s) => [s.path, s.authorization]), [['/health', basic('ops', miguelPassword)]]);
    const out = everything(agent);
    for (const secret of [diegoPassword, encodeURIComponent(diegoPassword), miguelPassword, basic('sched', diegoPassword).slice(6)]) {
      assert.ok(!out.includes(secret), `${secret} in the output:\n${out}`);
    }
    assert.match(out, new RegExp(`DIEGO_URL=${diego.url} \\(Basic auth from the URL\\)`));
    const stored = [dbPath, `${dbPath}-wal`].filter((f) => existsSync(f)).map((f) => readFileSync(f).toString('latin1')).join('');
    assert.ok(!stored.includes(miguelPassword) && !stored.includes('w:rd') && !stored.includes('p%40ss'), 'no credential in the database file');
  } finally {
    t.cleanup();
    await close(diego.server);
    await close(miguel.server);
  }
});

test('a redirect from a Basic-auth URL is not followed: the credentials never reach another host', async () => {
  const thief = await recordingServer(() => ({ status: 200, body: JSON.stringify(analysisOk()) }));
  const diego = await recordingServer((req) => ({ status: req.url === '/health' ? 302 : 307, headers: { location: `${thief.url}${req.url}` } }));
  const t = tempDir();
  try {
    const agent = spawnCli(['run'], {
      DIEGO_URL: diego.url.replace('http://', 'http://u:long-password-1@'),
      MIGUEL_URL: '',
      DATABASE_URL: join(t.dir, 'history.db'),
      CRON_PATTERN: ONCE_A_YEAR,
      STATS_INTERVAL_MS: '0',
      READY_TIMEOUT_MS: '300',
    });
    assert.equal(await finished(agent, 'the readiness wait to run out'), 1, everything(agent));
    assert.match(everything(agent), /Diego not ready at .*HTTP 302: redirect not followed/);
    const sent = spawnCli(['run'], {
      DIEGO_URL: diego.url.replace('http://', 'http://u:long-password-1@'),
      MIGUEL_URL: '',
      WAIT_FOR_READY: 'false',
      RETRY_ATTEMPTS: '1',
      DATABASE_URL: join(t.dir, 'history.db'),
      CRON_PATTERN: ONCE_A_YEAR,
      STATS_INTERVAL_MS: '0',
    });
    await sent.line(/Scalping cycle #\d+ failed/, 15_000);
    sent.kill('SIGTERM');
    assert.equal(await finished(sent, 'the agent to stop'), 0);
    assert.match(everything(sent), /HTTP 307: redirect to .* not followed/);
    assert.ok(diego.seen.every((s) => s.authorization === basic('u', 'long-password-1')));
    assert.deepEqual(thief.seen, []);
  } finally {
    t.cleanup();
    await close(diego.server);
    await close(thief.server);
  }
});

test('DIEGO_URL with user:password and DIEGO_TOKEN together: exit 2 at once, one line naming DIEGO_TOKEN, no secret', async () => {
  const p = spawnCli(['run'], { DIEGO_URL: 'http://u:pw-secret@127.0.0.1:9', DIEGO_TOKEN: 'token-secret-123', DATABASE_URL: '/nonexistent/never-created.db' });
  assert.equal(await finished(p, 'the configuration error'), 2);
  assert.deepEqual(p.stdout.filter((l) => l !== ''), []);
  const lines = p.stderr.filter((l) => l !== '');
  assert.equal(lines.length, 1, lines.join('\n'));
  assert.match(lines[0]!, /^pmf-scheduler: Invalid DIEGO_TOKEN="\[redacted\]": expected unset when DIEGO_URL holds user:password \(sent as Basic auth\)/);
  assert.ok(!lines[0]!.includes('pw-secret') && !lines[0]!.includes('token-secret-123'));
});

/** Passwords a pattern loses track of: a space, a double quote, `#` and `@` percent-encoded (libpq's URL syntax). */
const PASSWORDS = [
  { typed: 'pa ss"word', decoded: 'pa ss"word' },
  { typed: 'h%23sh%40at%20x', decoded: 'h#sh@at x' },
  { typed: 'x"y', decoded: 'x"y' },
];

test('PostgreSQL passwords with a space, a quote, # or @ never appear: start-up lines, history, error lines', pgTest(), async () => {
  const s = await tempSchema();
  try {
    // `=` left as is: pg-connection-string re-encodes a URL that holds a space and would keep a `%3D` literally.
    const schemaOption = `options=-c%20search_path=${s.schema}`;
    for (const pw of PASSWORDS) {
      const url = `postgres://postgres:${pw.typed}@${PG_HOST}:${PG_PORT}/test?${schemaOption}`;
      const hidden = (text: string) => {
        for (const secret of [pw.typed, pw.decoded, encodeURIComponent(pw.decoded)]) assert.ok(!text.includes(secret), `${JSON.stringify(secret)} shown:\n${text}`);
      };
      // The agent (trust authentication: any password connects) prints its configuration and database lines.
      const agent = spawnCli(['run'], { DATABASE_URL: url, ENABLE_SCHEDULER: 'false', DIEGO_URL: 'http://127.0.0.1:9' });
      try {
        await agent.line(/Scheduler disabled/, 15_000);
        agent.kill('SIGTERM');
        assert.equal(await finished(agent, 'the agent to stop'), 0);
      } finally {
        agent.kill('SIGKILL');
      }
      hidden(everything(agent));
      assert.match(everything(agent), /DATABASE_URL=postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/test/);
      assert.match(everything(agent), /Database: postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/test/);
      // history on the empty schema names the database.
      const history = spawnCli(['history', '--db', url], {});
      assert.equal(await finished(history, 'history'), 0);
      hidden(everything(history));
      assert.match(everything(history), /No cycles yet in postgres:\/\/postgres:\*\*\*@/);
      // A server that does not answer: the error line names it, without the password.
      const down = url.replace(`:${PG_PORT}/`, `:${await freePort()}/`);
      const unreachable = spawnCli(['history', '--db', down], {});
      assert.equal(await finished(unreachable, 'history on a closed port'), 1);
      hidden(everything(unreachable));
      assert.match(everything(unreachable), /Cannot reach PostgreSQL at postgres:\/\/postgres:\*\*\*@/);
    }
    // Unencoded, "#" makes the URL invalid: the configuration error hides the password too.
    const invalid = spawnCli(['run'], { DATABASE_URL: `postgres://postgres:se#cret word@${PG_HOST}:${PG_PORT}/test` });
    assert.equal(await finished(invalid, 'the configuration error'), 2);
    const text = everything(invalid);
    assert.ok(!text.includes('cret') && !text.includes('se#'), text);
    assert.match(text, /Invalid DATABASE_URL="postgres:\/\/postgres:\*\*\*@127\.0\.0\.1:5432\/test"/);
  } finally {
    await s.drop();
  }
});
