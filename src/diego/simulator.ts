import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';

/** Options for {@link startSimulator}. */
export interface SimulatorOptions {
  host?: string;
  port?: number;
  failRate?: number;
  latencyMs?: number;
  /**
   * Every random choice goes through this, so a constant RNG pins the outcome:
   * RSI = 20 + 60·r, and the signal is BUY below 40, SELL above 60, else HOLD
   * (r = 0.1 → BUY, r = 0.5 → HOLD, r = 0.9 → SELL).
   */
  random?: () => number;
  onRequest?: (r: SimulatorRequestRecord) => void;
}

/** What the simulator saw and answered for one /analyze request. */
export interface SimulatorRequestRecord {
  at: number;
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  status: number;
}

/** A running simulator; `requests` counts /analyze requests answered so far. */
export interface Simulator {
  url: string;
  port: number;
  requests: number;
  close(): Promise<void>;
}

const MAX_BODY = 64 * 1024;
const MAX_IDEMPOTENCY_KEYS = 1000;
const SYMBOL_RE = /^[A-Z0-9]+\/[A-Z0-9]+$/;
const TIMEFRAMES = ['1m', '3m', '5m', '15m', '30m', '1h', '4h', '1d'];
const BASE_PRICES: Record<string, number> = { BTC: 97000, ETH: 3400, SOL: 180, BNB: 650 };

const round = (n: number, digits = 2): number => Math.round(n * 10 ** digits) / 10 ** digits;

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

/** Start a fake Diego analysis service; resolves once it is listening. */
/**
 * The simulated market: prices that wander around a base with mean reversion, an RSI-like signal, and, when asked to
 * trigger execution, an order as if Miguel had placed it. Pure but for `random`.
 */
function createMarket(random: () => number) {
  const prices = new Map<string, number>();
  let orders = 0;
  return {
    analyze(symbol: string, timeframe: string, triggerExecution: boolean): Record<string, unknown> {
      const base = BASE_PRICES[symbol.split('/')[0]!] ?? 100;
      const last = prices.get(symbol) ?? base;
      // Mean reversion keeps a long demo run "near" the base price instead of drifting off.
      const price = round(last + (base - last) * 0.05 + last * (random() - 0.5) * 0.004);
      prices.set(symbol, price);
      const rsi = round(20 + 60 * random(), 1);
      const signal = rsi < 40 ? 'BUY' : rsi > 60 ? 'SELL' : 'HOLD';
      const confidence = round(0.5 + Math.abs(rsi - 50) / 60);
      const ema20 = round(price * (1 + (50 - rsi) / 5000));
      const ema50 = round(price * (1 + (50 - rsi) / 2500));
      const out: Record<string, unknown> = {
        success: true, symbol, timeframe,
        analysis: { price, signal, confidence, indicators: { rsi, ema20, ema50 } },
        timestamp: new Date().toISOString(),
      };
      if (triggerExecution) {
        out.execution = signal === 'HOLD'
          ? { placed: false, reason: 'signal HOLD' }
          : { orderId: `sim-${++orders}`, side: signal === 'BUY' ? 'buy' : 'sell', quantity: 0.001, price, status: 'filled', placed: true };
      }
      return out;
    },
  };
}

function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers['content-length']);
  if (declared > MAX_BODY) return Promise.reject(new HttpError(413, `body exceeds ${MAX_BODY} bytes`));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY) reject(new HttpError(413, `body exceeds ${MAX_BODY} bytes`));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function validate(req: IncomingMessage, raw: string): { symbol: string; timeframe: string; triggerExecution: boolean } {
  if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) throw new HttpError(400, 'content-type must be application/json');
  let body: unknown;
  try { body = JSON.parse(raw); } catch { throw new HttpError(400, 'body is not valid JSON'); }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw new HttpError(400, 'body must be a JSON object');
  const { symbol, timeframe, triggerExecution } = body as Record<string, unknown>;
  if (typeof symbol !== 'string' || !SYMBOL_RE.test(symbol)) throw new HttpError(400, 'symbol must be a string like BTC/USDT');
  if (typeof timeframe !== 'string' || !TIMEFRAMES.includes(timeframe)) throw new HttpError(400, `timeframe must be one of ${TIMEFRAMES.join(', ')}`);
  if (typeof triggerExecution !== 'boolean') throw new HttpError(400, 'triggerExecution must be a boolean');
  return { symbol, timeframe, triggerExecution };
}


export function startSimulator(opts: SimulatorOptions = {}): Promise<Simulator> {
  const host = opts.host ?? '127.0.0.1';
  const failRate = opts.failRate ?? 0;
  const latencyMs = opts.latencyMs ?? 0;
  const random = opts.random ?? Math.random;
  const market = createMarket(random);
  // Only 200 bodies are stored: a failed attempt placed no order, so a retry must really run.
  const replies = new Map<string, string>();
  // A client that timed out may retry while the first attempt is still sleeping; it must wait for that attempt, not place a second order.
  const inflight = new Map<string, Promise<void>>();
  const shutdown = new AbortController();
  let requests = 0;

  async function handleAnalyze(req: IncomingMessage, raw: string, key: string | undefined): Promise<[number, string]> {
    const input = validate(req, raw);
    if (key !== undefined) {
      while (inflight.has(key)) await inflight.get(key);
      const stored = replies.get(key);
      if (stored !== undefined) return [200, stored];
    }
    let done = (): void => {};
    if (key !== undefined) inflight.set(key, new Promise<void>((r) => { done = r; }));
    try {
      if (latencyMs > 0) await delay(latencyMs * (0.8 + 0.4 * random()), undefined, { signal: shutdown.signal });
      if (failRate > 0 && random() < failRate) throw new HttpError(503, 'simulated failure');
      const body = JSON.stringify(market.analyze(input.symbol, input.timeframe, input.triggerExecution));
      if (key !== undefined) {
        replies.set(key, body);
        if (replies.size > MAX_IDEMPOTENCY_KEYS) replies.delete(replies.keys().next().value!);
      }
      return [200, body];
    } finally {
      if (key !== undefined) inflight.delete(key);
      done();
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const send = (status: number, body: string, extra: Record<string, string> = {}): void => {
      // After a 413 the rest of the upload is unread, so the connection cannot be reused.
      if (status === 413) extra.connection = 'close';
      res.writeHead(status, { 'content-type': 'application/json', ...extra }).end(body);
    };
    const error = (message: string): string => JSON.stringify({ success: false, error: message });
    const route = path === '/health' ? 'GET' : path === '/analyze' ? 'POST' : undefined;
    if (!route) return send(404, error(`no route for ${path}`));
    if (req.method !== route) return send(405, error(`${req.method} not allowed on ${path}`), { allow: route });
    if (route === 'GET') return send(200, JSON.stringify({ status: 'ok', service: 'diego-simulator' }));

    const rawKey = req.headers['idempotency-key'];
    const key = typeof rawKey === 'string' && rawKey !== '' ? rawKey : undefined;
    let raw: string | undefined;
    let status: number;
    let body: string;
    try {
      raw = await readBody(req);
      [status, body] = await handleAnalyze(req, raw, key);
    } catch (err) {
      if (shutdown.signal.aborted) return;
      status = err instanceof HttpError ? err.status : 500;
      body = error(err instanceof Error ? err.message : String(err));
    }
    send(status, body);
    requests++;
    let parsed: unknown = raw;
    try { parsed = JSON.parse(raw ?? ''); } catch { /* keep the raw text: the record should show what was sent */ }
    const record = { at: Date.now(), method: req.method ?? '', path, headers: req.headers, body: parsed, status };
    // An observer's bug must not take the simulator down with it.
    try { opts.onRequest?.(record); } catch { /* ignored */ }
  }

  return listen(handle, host, opts.port ?? 3001, shutdown, () => requests);
}

/** Serves `handle` on host:port; closing aborts `shutdown` (requests asleep in their latency end) and every socket. */
function listen(handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>, host: string, port: number, shutdown: AbortController, requests: () => number): Promise<Simulator> {
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => void handle(req, res));
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const bound = (server.address() as AddressInfo).port;
      resolve({
        url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
        port: bound,
        get requests() {
          return requests();
        },
        close: () =>
          new Promise<void>((done) => {
            shutdown.abort();
            server.close(() => done());
            for (const s of sockets) s.destroy();
            server.closeAllConnections?.();
          }),
      });
    });
  });
}
