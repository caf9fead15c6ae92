import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** How the fake exchange answers `GET /api/v3/time`. */
export type TimeMode = 'ok' | 'garbage' | 'huge' | 'redirect' | 'years' | 'seconds' | 'slow' | 'http500';

export interface FakeExchange {
  /** Its time endpoint (Binance's path). */
  url: string;
  /** The exchange's clock: ours plus `offsetMs`, what every answer in `ok` mode says. */
  now(): number;
  offsetMs: number;
  mode: TimeMode;
  /** Time answers served (any mode). */
  readonly served: number;
  close(): Promise<void>;
}

/**
 * A fake exchange time server on 127.0.0.1 (Binance's `{"serverTime": ms}`): its clock runs `offsetMs` ahead of
 * ours, and each answer is held a random 0–`jitterMs` before the time is read and again after it (an uneven network
 * path, the case NTP's midpoint and a filter on the round trip are for). The other modes are the bad inputs.
 */
export async function startFakeExchange(opts: { offsetMs?: number; jitterMs?: number; random?: () => number } = {}): Promise<FakeExchange> {
  const random = opts.random ?? Math.random;
  const jitter = opts.jitterMs ?? 0;
  let served = 0;
  const state = { offsetMs: opts.offsetMs ?? 700, mode: 'ok' as TimeMode };
  const now = () => Date.now() + state.offsetMs;
  const later = (f: () => void) => (jitter > 0 ? setTimeout(f, random() * jitter) : f());
  const server: Server = createServer((req, res) => {
    served++;
    const json = (body: string, status = 200) => res.writeHead(status, { 'content-type': 'application/json' }).end(body);
    switch (state.mode) {
      case 'garbage':
        return json('<html><body>502 Bad Gateway</body></html>');
      case 'huge':
        return json(`{"serverTime": ${now()}, "pad": "${'x'.repeat(1_000_000)}"}`);
      case 'redirect':
        return res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' }).end();
      case 'years':
        return json(JSON.stringify({ serverTime: now() - 3 * 365 * 86_400_000 }));
      case 'seconds':
        return json(JSON.stringify({ serverTime: Math.floor(now() / 1000) }));
      case 'slow':
        return void setTimeout(() => json(JSON.stringify({ serverTime: now() })), 5000).unref();
      case 'http500':
        return json('{"code":-1000}', 500);
      default:
        later(() => {
          const body = JSON.stringify({ serverTime: now() });
          later(() => json(body));
        });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/v3/time`,
    now,
    get offsetMs() {
      return state.offsetMs;
    },
    set offsetMs(v: number) {
      state.offsetMs = v;
    },
    get mode() {
      return state.mode;
    },
    set mode(m: TimeMode) {
      state.mode = m;
    },
    get served() {
      return served;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
