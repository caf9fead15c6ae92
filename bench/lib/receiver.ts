import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hiResNow } from './proc.ts';

/** One POST as the receiver saw it: when it arrived, and the send time the sender put in `X-Sent-At`. */
export interface Arrival {
  arrivedAt: number;
  sentAt: number;
}

export interface Receiver {
  url: string;
  arrivals: Arrival[];
  /** Resolves at the next POST (for start-up timing). */
  next(): Promise<Arrival>;
  close(): Promise<void>;
}

/** An instant answer shaped like Diego's, so the agent records a succeeded cycle. */
const BODY = JSON.stringify({ success: true, analysis: { signal: 'HOLD', confidence: 0.5, price: 97000 }, execution: { placed: false, reason: 'signal HOLD' } });

/**
 * An instant "Diego" on 127.0.0.1: stamps each request's arrival as soon as its headers are parsed
 * (`performance.timeOrigin + performance.now()`), answers 200 at once, and `GET /health` too.
 */
export async function startReceiver(): Promise<Receiver> {
  const arrivals: Arrival[] = [];
  let waiters: ((a: Arrival) => void)[] = [];
  const server = createServer((req, res) => {
    const arrivedAt = hiResNow();
    req.resume();
    req.on('end', () => {
      if (req.method === 'POST') {
        const a = { arrivedAt, sentAt: Number(req.headers['x-sent-at'] ?? Number.NaN) };
        arrivals.push(a);
        for (const w of waiters) w(a);
        waiters = [];
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(req.method === 'POST' ? BODY : '{"status":"ok"}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    arrivals,
    next: () => new Promise((resolve) => waiters.push(resolve)),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
