import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/** One request as the stub received it. */
export interface Received {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
  body: string;
  at: number;
  /** The client's port: which connection carried it (a kept-alive connection carries several). */
  remotePort: number;
}

/** How the stub answers one request: a status, headers and body, or a custom handler (hang, reset, trickle…). */
export type Reply =
  | { status: number; body?: unknown; headers?: Record<string, string>; delayMs?: number }
  | ((req: IncomingMessage, res: ServerResponse) => void);

export interface DiegoStub {
  url: string;
  /** Requests to /analyze, in order. */
  received: Received[];
  /** How many GET /health probes it answered. */
  readonly healthChecks: number;
  /** Every connection accepted, in order: the client's port and when (Date.now()). */
  connections: { remotePort: number; at: number }[];
  /** Closes every open connection from the server's side (as a keep-alive timeout or a restart would). */
  dropConnections(): void;
  close(): Promise<void>;
}

/**
 * A real HTTP server on 127.0.0.1 that answers POST /analyze from a script of replies (the last one repeats)
 * and GET /health with 200. Nothing is mocked: the agent's real client talks to it over TCP.
 */
export async function startDiegoStub(script: Reply[], opts: { port?: number; keepAliveTimeoutMs?: number } = {}): Promise<DiegoStub> {
  const received: Received[] = [];
  let n = 0;
  let healthChecks = 0;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/health') {
        healthChecks++;
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
        return;
      }
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks).toString('utf8'), at: Date.now(), remotePort: req.socket.remotePort ?? 0 });
      const reply = script[Math.min(n++, script.length - 1)]!;
      if (typeof reply === 'function') return reply(req, res);
      const send = () => {
        const text = typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body ?? { success: true });
        res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers }).end(text);
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  const connections: DiegoStub['connections'] = [];
  const open = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.push({ remotePort: socket.remotePort ?? 0, at: Date.now() });
    open.add(socket);
    socket.once('close', () => open.delete(socket));
  });
  if (opts.keepAliveTimeoutMs !== undefined) server.keepAliveTimeout = opts.keepAliveTimeoutMs;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    get healthChecks() {
      return healthChecks;
    },
    connections,
    dropConnections: () => open.forEach((s) => s.destroy()),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A plausible successful Diego answer. */
export const analysisOk = (signal = 'BUY') => ({
  success: true,
  analysis: { signal, confidence: 0.8, price: 97000 },
  execution: signal === 'HOLD' ? { placed: false, reason: 'signal HOLD' } : { placed: true, orderId: 'o-1', side: 'buy', quantity: 0.001 },
});

/** A reply that holds the request until the test releases it: `held` resolves once the stub has it. */
export function heldReply(): { reply: Reply; held: Promise<void>; release(status: number, body?: unknown): void } {
  let hold!: () => void;
  const held = new Promise<void>((resolve) => (hold = resolve));
  let response: ServerResponse | undefined;
  return {
    reply: (_req, res) => {
      response = res;
      hold();
    },
    held,
    release(status, body = analysisOk()) {
      if (!response) throw new Error('release() before the request arrived');
      response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    },
  };
}

/** A free loopback port with nothing listening on it (for "connection refused", or a server started later). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
