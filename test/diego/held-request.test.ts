import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createDiegoClient, type AttemptOptions, type DiegoClient } from '../../src/diego/client.ts';
import { analysisOk, freePort, startDiegoStub, type DiegoStub } from '../helpers/diego-stub.ts';
import { until } from '../helpers/wait.ts';

// The Diego client against a real HTTP server on 127.0.0.1: each attempt is prepared up to its write (a connection
// taken, opened if need be), and `send` only writes. The connection is kept alive across attempts, and replaced
// before the write when the server closed it. Assertions are on order (connected before sent), not on milliseconds.

const BODY = { symbol: 'BTC/USDT', timeframe: '1m', triggerExecution: true };
const T = Date.UTC(2024, 0, 22, 10, 0, 0);
let n = 0;
const attempt = (signal = new AbortController().signal): AttemptOptions => ({
  idempotencyKey: `key-${++n}`,
  requestId: `req-${n}`,
  timeoutMs: 5000,
  signal,
  scheduledAt: T,
  traceparent: `00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`,
});

async function withClient(body: (client: DiegoClient, stub: DiegoStub) => Promise<void>, keepAliveTimeoutMs?: number): Promise<void> {
  const stub = await startDiegoStub([{ status: 200, body: analysisOk() }], { keepAliveTimeoutMs });
  const client = createDiegoClient({ baseUrl: stub.url, maxResponseBytes: 1 << 20, now: Date.now });
  try {
    await body(client, stub);
  } finally {
    client.close?.();
    await stub.close();
  }
}

const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a prepared attempt connects before its send and writes nothing until it; the kept-alive connection carries the next slots', async () => {
  await withClient(async (client, stub) => {
    for (let slot = 0; slot < 3; slot++) {
      const prepared = client.prepare(BODY, attempt());
      await until(() => stub.connections.length === 1, 'the first prepare to open the connection');
      await pause(50); // the prepare window: fetch has run, the request waits for its write
      assert.equal(stub.received.length, slot, 'nothing is written before the send');
      const result = await prepared.send().result;
      assert.equal(result.outcome, 'ok');
      assert.equal(stub.received.length, slot + 1);
    }
    assert.equal(stub.connections.length, 1, 'one connection for the three slots');
    assert.deepEqual(new Set(stub.received.map((r) => r.remotePort)), new Set([stub.connections[0]!.remotePort]));
  });
});

for (const how of ['its keep-alive timeout, 150 ms', 'closed idle without notice'] as const) {
  test(`a connection Diego closed (${how}) is replaced at the prepare, before the send, never during it`, async () => {
    await withClient(async (client, stub) => {
      assert.equal((await client.prepare(BODY, attempt()).send().result).outcome, 'ok');
      await pause(how.startsWith('its') ? 400 : 100);
      if (!how.startsWith('its')) stub.dropConnections();
      await pause(50);
      const prepared = client.prepare(BODY, attempt());
      await until(() => stub.connections.length === 2, 'the prepare to open a new connection');
      const connectedAt = stub.connections[1]!.at;
      const sentAt = Date.now();
      const result = await prepared.send().result;
      assert.equal(result.outcome, 'ok', result.error);
      assert.ok(connectedAt <= sentAt, 'connected before the send');
      assert.equal(stub.received.length, 2);
      assert.equal(stub.received[1]!.remotePort, stub.connections[1]!.remotePort, 'written on the connection opened at the prepare');
    }, how.startsWith('its') ? 150 : 5000);
  });
}

test('a connection closed while the request waits for its slot is replaced before the write: one request, no error', async () => {
  await withClient(async (client, stub) => {
    const prepared = client.prepare(BODY, attempt());
    await until(() => stub.connections.length === 1, 'the prepare to connect');
    await pause(20);
    stub.dropConnections(); // Diego restarts, or its idle timeout fires, during the prepare window
    await until(() => stub.connections.length === 2, 'the held request to reconnect before its write');
    assert.equal(stub.received.length, 0);
    const result = await prepared.send().result;
    assert.equal(result.outcome, 'ok', result.error);
    assert.equal(stub.received.length, 1, 'sent once');
    assert.equal(stub.received[0]!.remotePort, stub.connections[1]!.remotePort);
  });
});

test('Diego restarted on its port between two slots: the next prepare connects to the new process', async () => {
  const port = await freePort();
  const first = await startDiegoStub([{ status: 200 }], { port });
  const client = createDiegoClient({ baseUrl: first.url, maxResponseBytes: 1 << 20, now: Date.now });
  try {
    assert.equal((await client.prepare(BODY, attempt()).send().result).outcome, 'ok');
    await first.close();
    const second = await startDiegoStub([{ status: 200 }], { port });
    try {
      const prepared = client.prepare(BODY, attempt());
      await until(() => second.connections.length === 1, 'the prepare to connect to the restarted Diego');
      assert.equal((await prepared.send().result).outcome, 'ok');
      assert.equal(second.received.length, 1);
    } finally {
      await second.close();
    }
  } finally {
    client.close?.();
  }
});

test('a cancelled prepared attempt is never written; an abort before the send ends it aborted, unsent', async () => {
  await withClient(async (client, stub) => {
    const cancelled = client.prepare(BODY, attempt());
    await until(() => stub.connections.length === 1, 'the prepare to connect');
    cancelled.cancel();
    const stop = new AbortController();
    const aborted = client.prepare(BODY, attempt(stop.signal));
    stop.abort();
    const result = await aborted.send().result;
    assert.equal(result.outcome, 'aborted');
    await pause(100);
    assert.equal(stub.received.length, 0, 'nothing reached Diego');
    assert.equal((await client.prepare(BODY, attempt()).send().result).outcome, 'ok', 'the client still sends afterwards');
  });
});

test('the timeout runs from the write and covers the body: a body that trickles past it ends the attempt as timeout', async () => {
  const stub = await startDiegoStub([
    (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"success":');
      setTimeout(() => res.end('true}'), 1000);
    },
  ]);
  const client = createDiegoClient({ baseUrl: stub.url, maxResponseBytes: 1 << 20, now: Date.now });
  try {
    const prepared = client.prepare(BODY, { ...attempt(), timeoutMs: 200 });
    await pause(300); // longer than the timeout: it must not have started before the send
    assert.equal(stub.received.length, 0);
    const result = await prepared.send().result;
    assert.equal(result.outcome, 'timeout', result.error);
    assert.match(result.error ?? '', /within 200 ms/);
    assert.equal(stub.received.length, 1);
  } finally {
    client.close?.();
    await stub.close();
  }
});
