import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../helpers/cli-process.ts';
import { agentHeldAtFirstPost } from '../helpers/held-agent.ts';
import { scene } from '../helpers/scene.ts';
import { within } from '../helpers/wait.ts';

// The small defects of issue 24 item 18, each through the real CLI.

test('an unknown option is echoed as typed (`--bogus-flag`, not `--bogusFlag`), exit 2', async () => {
  const r = await runCli(['history', '--bogus-flag']);
  assert.equal(r.code, 2, r.err);
  assert.equal(r.err, 'pmf-scheduler: Unknown option `--bogus-flag`');
});

test('`next` says where the time zone comes from: TZ when set, the system otherwise', async () => {
  const unset = await runCli(['next', '--count', '1']);
  assert.equal(unset.code, 0, unset.err);
  assert.match(unset.out, /\(local time zone [^,]+, the system's: TZ is unset\)/);
  assert.doesNotMatch(unset.out, /set by TZ/);
  const set = await runCli(['next', '--count', '1'], { TZ: 'Europe/Paris' });
  assert.match(set.out, /\(local time zone Europe\/Paris, set by TZ\)/);
});

test('`migrate` on a new file says it created the schema; again, that it is up to date', async (t) => {
  const db = join(scene(t).dir(), 'new.db');
  const first = await runCli(['migrate', '--db', db]);
  assert.equal(first.code, 0, first.err);
  assert.match(first.out, new RegExp(`^Created the schema in ${db}: applied all \\d+ migrations \\(0001_init … \\d{4}_\\w+\\)$`));
  assert.ok(existsSync(db));
  const again = await runCli(['migrate', '--db', db]);
  assert.equal(again.out, `Database ${db} is up to date`);
});

test('CLOCK_SKEW_MAX_MS below CLOCK_SKEW_WARN_MS is refused with one line, exit 2', async () => {
  const r = await runCli(['run'], { CLOCK_SKEW_MAX_MS: '100', CLOCK_SKEW_WARN_MS: '250' });
  assert.equal(r.code, 2, r.err);
  assert.equal(r.err, 'pmf-scheduler: Invalid CLOCK_SKEW_MAX_MS="100": expected at least CLOCK_SKEW_WARN_MS (250): above it no slot fires, so it cannot be below the warning');
});

test('a cycle in flight shows its attempt (att 1, not 0); `--symbol btc/usdt` finds BTC/USDT; `healthcheck` ignores a bad setting it does not read', async (t) => {
  const s = scene(t);
  const { held, db, cli } = await agentHeldAtFirstPost(s);
  const h = await runCli(['history', '--json', '--symbol', 'btc/usdt', '--db', db]);
  assert.equal(h.code, 0, h.err);
  const rows = JSON.parse(h.out) as { status: string; attempts: number; symbol: string }[];
  assert.ok(rows.length >= 1, h.out);
  const running = rows.find((r) => r.status === 'running');
  assert.ok(running, h.out);
  assert.equal(running.symbol, 'BTC/USDT');
  assert.equal(running.attempts, 1, h.out);
  const table = await runCli(['history', '--db', db]);
  assert.match(table.out, /running\s+1\s/, table.out);
  // A Docker HEALTHCHECK runs with the container's whole environment: a setting only `run` reads must not make it exit 2.
  const health = await runCli(['healthcheck'], { DATABASE_URL: db, CRON_PATTERN: 'not a pattern', DIEGO_TIMEOUT_MS: 'soon' });
  assert.equal(health.code, 0, `${health.out}\n${health.err}`);
  held.release(200);
  cli.kill('SIGTERM');
  assert.equal((await within(cli.exited, 20_000, 'the agent to stop')).code, 0, cli.stderr.join('\n'));
});

test('`alerts test`: a failed webhook is named by scheme, host and first path segment, never its token', async (t) => {
  const s = scene(t);
  const hook = await s.stub([{ status: 404, body: { error: 'no such hook' } }]);
  const url = `${hook.url}/services/T0SECRET/B0SECRET`;
  const r = await runCli(['alerts', 'test'], { ALERT_WEBHOOK_URL: url });
  assert.equal(r.code, 1, `${r.out}\n${r.err}`);
  const line = r.out.split('\n').find((l) => l.includes('FAILED'));
  assert.ok(line, r.out);
  assert.ok(line.startsWith(`webhook:`) && line.includes(`(${hook.url}/services/…): FAILED`), line);
  assert.doesNotMatch(r.out, /SECRET/);
});
