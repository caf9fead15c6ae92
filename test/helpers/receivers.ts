import { createSocket, type Socket } from 'node:dgram';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { sntpReply } from '../../src/time/sntp.ts';

/** What a receiver got: path, parsed JSON (or text) body, and when. */
export interface Received {
  path: string;
  body: unknown;
  at: number;
  /** The request's headers (lower-case names). */
  headers: Record<string, string | string[] | undefined>;
}

/**
 * A webhook (or Healthchecks) receiver on 127.0.0.1: records every POST and answers what `answer` says for it
 * (default 200; `'hang'` never answers, until the receiver closes).
 */
export async function startReceiver(answer: (r: Received, n: number) => number | 'hang' = () => 200): Promise<{ url: string; received: Received[]; close(): Promise<void> }> {
  const received: Received[] = [];
  const hanging = new Set<ServerResponse>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let text = '';
    req.on('data', (d: Buffer) => (text += d.toString('utf8')));
    req.on('end', () => {
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // a plain text body (a ping's)
      }
      const r = { path: req.url ?? '/', body, at: Date.now(), headers: req.headers };
      received.push(r);
      const status = answer(r, received.length);
      if (status === 'hang') {
        hanging.add(res);
        return;
      }
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status < 300 ? 'ok' : 'nope');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    async close() {
      for (const res of hanging) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A fake SNTP server on 127.0.0.1 UDP whose clock is `offsetMs` ahead of ours; `silent` drops every request. */
export async function startNtpServer(offsetMs: number, opts: { silent?: boolean; stratum?: number } = {}): Promise<{ host: string; port: number; requests: number; close(): Promise<void> }> {
  const socket: Socket = createSocket('udp4');
  const state = { requests: 0 };
  socket.on('message', (msg, rinfo) => {
    state.requests++;
    if (opts.silent) return;
    const now = Date.now() + offsetMs;
    socket.send(sntpReply(msg, now, now + 0.05, opts.stratum), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  return {
    host: '127.0.0.1',
    port: socket.address().port,
    get requests() {
      return state.requests;
    },
    close: () => new Promise<void>((resolve) => socket.close(() => resolve())),
  };
}
