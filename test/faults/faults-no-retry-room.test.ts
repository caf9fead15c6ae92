import assert from 'node:assert/strict';
import { join } from 'node:path';
import test from 'node:test';
import { everySecondAgent } from '../helpers/cli-process.ts';
import { scene } from '../helpers/scene.ts';

// Issue 24, item 10: with `*/5` and the default RETRY_DELAY_MS=5000 no retry can fit before the next slot. The real
// CLI warns at start, and a failed cycle says "no time left for a retry", not that the pattern is too tight for Diego
// (Diego answered).

test('*/5 with RETRY_DELAY_MS=5000: a warning at start, and a failed cycle says "no time left for a retry"', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 503, body: { success: false, error: 'exchange down' } }]);
  const env = everySecondAgent(stub.url, join(s.dir(), 'history.db'), { CRON_PATTERN: '*/5 * * * * *', RETRY_DELAY_MS: '5000', RETRY_ATTEMPTS: '3', STATS_INTERVAL_MS: '0' });
  const cli = s.cli(['run'], env);
  await cli.line(/RETRY_DELAY_MS=5000 leaves no time for a retry: slots can be 5000 ms apart, .*never retried \(RETRY_ATTEMPTS=3\); set RETRY_DELAY_MS below 5000 to retry/, 10_000);
  const failed = await cli.line(/Scalping cycle #\d+ failed after/, 20_000);
  assert.match(failed, /failed after 1 attempt\(s\): no time left for a retry: the next slot \S+ comes before RETRY_DELAY_MS \(5000 ms\) has passed; last error: HTTP 503: exchange down/);
  cli.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0, cli.stderr.join('\n'));
  assert.ok(!cli.stderr.some((l) => /too tight for Diego/.test(l)), cli.stderr.join('\n'));
  assert.equal(stub.received.length >= 1, true);
});

test('*/5 with RETRY_DELAY_MS=1000: no warning at start (a retry fits)', async (t) => {
  const s = scene(t);
  const stub = await s.stub([{ status: 200 }]);
  const cli = s.cli(['run'], everySecondAgent(stub.url, join(s.dir(), 'history.db'), { CRON_PATTERN: '*/5 * * * * *', RETRY_DELAY_MS: '1000', STATS_INTERVAL_MS: '0' }));
  // A line that comes well after the start (the first slot's end): the warning would be out by then.
  await cli.line(/Scalping cycle completed successfully/, 15_000);
  cli.kill('SIGTERM');
  assert.equal((await cli.exited).code, 0, cli.stderr.join('\n'));
  assert.ok(![...cli.stdout, ...cli.stderr].some((l) => /leaves no time for a retry/.test(l)));
});
