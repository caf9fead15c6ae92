import assert from 'node:assert/strict';
import test from 'node:test';
import { readSntpReply, sntpReply, sntpRequest } from '../../src/time/sntp.ts';

const T1 = Date.UTC(2026, 11, 6, 12, 0, 0, 123.456);

test('SNTP: the offset and round trip come from the four timestamps (RFC 4330 §5)', () => {
  const request = sntpRequest(T1);
  assert.equal(request.length, 48);
  assert.equal(request[0], 0x23, 'LI 0, version 4, mode 3 (client)');
  // The server's clock is 500 ms ahead; the request takes 10 ms each way and the server 2 ms to answer.
  const reply = sntpReply(request, T1 + 10 + 500, T1 + 12 + 500);
  const sample = readSntpReply(reply, request, T1 + 22);
  assert.ok(!('error' in sample));
  assert.ok(Math.abs(sample.offsetMs - 500) < 0.001, `offset ${sample.offsetMs}`);
  assert.ok(Math.abs(sample.rttMs - 20) < 0.001, `round trip ${sample.rttMs}`);
  const behind = readSntpReply(sntpReply(request, T1 + 5 - 2000, T1 + 5 - 2000), request, T1 + 10);
  assert.ok(!('error' in behind) && Math.abs(behind.offsetMs + 2000) < 0.001, 'a server behind us: negative offset');
});

test('SNTP: a reply that is not a trustworthy answer to our request is refused with its reason', () => {
  const request = sntpRequest(T1);
  const good = sntpReply(request, T1, T1);
  const variant = (edit: (b: Buffer) => void) => {
    const b = Buffer.from(good);
    edit(b);
    return readSntpReply(b, request, T1 + 1);
  };
  assert.deepEqual(readSntpReply(good.subarray(0, 40), request, T1), { error: 'a 40-byte reply, expected 48' });
  assert.match((variant((b) => (b[0] = 0x23)) as { error: string }).error, /mode 3, expected 4/);
  assert.match((variant((b) => (b[1] = 0)) as { error: string }).error, /kiss-o'-death/);
  assert.match((variant((b) => (b[0] = 0xe4)) as { error: string }).error, /not synchronised/);
  assert.match((variant((b) => b.writeUInt32BE(1, 28)) as { error: string }).error, /does not answer our request/);
  assert.match((variant((b) => (b[0] = (0 << 6) | (2 << 3) | 4)) as { error: string }).error, /NTP version 2/);
});
