import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * What Node 20's fetch (undici 6) gives a dispatcher as the request's handler: the part used here. A dispatcher is
 * fetch's documented extension point (`fetch(url, { dispatcher })`, which ofetch passes through).
 */
interface Handler {
  onConnect?(abort: (reason?: unknown) => void): void;
  onResponseStarted?(): void;
  onHeaders?(status: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean | void;
  onData?(chunk: Buffer): boolean | void;
  onComplete?(trailers: Buffer[] | null): void;
  onError?(err: Error): void;
}

/** What fetch asks a dispatcher to send. */
interface DispatchOptions {
  origin?: string | URL;
  path: string;
  method: string;
  headers?: Record<string, string | string[]> | string[] | null;
  body?: unknown;
}

/** An undici-compatible dispatcher: fetch calls `dispatch` once per request. */
export interface Dispatcher {
  dispatch(opts: DispatchOptions, handler: Handler): boolean;
}

/**
 * A keep-alive connection pool to one origin (Diego): node:http's Agent, which keeps a connection open between
 * requests, closes it a second before the server's advertised keep-alive timeout (`Keep-Alive: timeout=N`), and
 * forgets one the server closed.
 */
export interface Pool {
  agent: HttpAgent;
  secure: boolean;
  /** Closes every connection (the agent's stop). */
  close(): void;
}

export function createPool(baseUrl: string): Pool {
  const secure = new URL(baseUrl).protocol === 'https:';
  const agent = secure ? new HttpsAgent({ keepAlive: true, scheduling: 'lifo' }) : new HttpAgent({ keepAlive: true, scheduling: 'lifo' });
  return { agent, secure, close: () => agent.destroy() };
}

/** A request held before its write: the dispatcher to give fetch, and the release that writes it. */
export interface HeldRequest {
  dispatcher: Dispatcher;
  /**
   * Writes the request, headers and body in one write, adding `extra` headers (stamped at the write). Before fetch
   * reached the dispatcher (a send right after the prepare), it is written as soon as it does.
   */
  release(extra?: Record<string, string>): void;
}

/** How many times a held request may reconnect before its write (each a connection that broke while it waited). */
const RECONNECTS = 2;

/**
 * One request, prepared up to its write: fetch runs its whole algorithm against this dispatcher ahead of time, the
 * dispatcher takes a connection from the pool at once (opening one if none is free, so connecting happens before
 * the boundary) and keeps the body's bytes; `release` is then a header stamp and one socket write. A connection that
 * breaks while the request waits (the server closed it) is replaced before the write: nothing was sent on it yet.
 */
export function holdRequest(pool: Pool): HeldRequest {
  let released: Record<string, string> | undefined;
  let write: (() => void) | undefined;
  const dispatcher: Dispatcher = {
    dispatch(opts, handler) {
      const held = dispatchHeld(pool, opts, handler);
      write = () => held(released!);
      if (released) write();
      return true;
    },
  };
  return {
    dispatcher,
    release(extra = {}) {
      if (released) return;
      released = extra;
      write?.();
    },
  };
}

/** Starts the request on a pooled connection, unwritten; returns its write. */
function dispatchHeld(pool: Pool, opts: DispatchOptions, handler: Handler): (extra: Record<string, string>) => void {
  const origin = new URL(String(opts.origin));
  let body: Buffer | undefined;
  let extra: Record<string, string> | undefined;
  let written = false;
  let settled = false;
  let reconnects = 0;
  let req: ClientRequest;
  const fail = (err: unknown) => {
    if (settled) return;
    settled = true;
    handler.onError?.(err instanceof Error ? err : new Error(String(err)));
  };
  const writeNow = () => {
    if (written || settled || body === undefined || extra === undefined) return;
    written = true;
    for (const [name, value] of Object.entries(extra)) req.setHeader(name, value);
    req.end(body);
  };
  const open = () => {
    const make = pool.secure ? httpsRequest : httpRequest;
    req = make({ host: origin.hostname.replace(/^\[|\]$/g, ''), port: origin.port, path: opts.path, method: opts.method, headers: headerObject(opts.headers), agent: pool.agent });
    req.on('response', (res) => answer(res, handler, () => settled, (v) => (settled = v), fail));
    req.on('error', (err) => {
      // Broken before anything was written on it (the server closed the idle connection): a new one, still unsent.
      if (!written && !settled && reconnects++ < RECONNECTS) return open();
      fail(err);
    });
  };
  open();
  handler.onConnect?.((reason) => {
    fail(reason ?? new Error('aborted'));
    req.destroy();
  });
  void drain(opts.body).then(
    (bytes) => {
      body = bytes;
      writeNow();
    },
    (err) => {
      fail(err);
      req.destroy();
    },
  );
  return (stamp) => {
    extra = stamp;
    writeNow();
  };
}

/** Hands the response to fetch's handler: status and raw headers, the body's chunks with back-pressure, the end. */
function answer(res: IncomingMessage, handler: Handler, isSettled: () => boolean, setSettled: (v: boolean) => void, fail: (err: unknown) => void): void {
  handler.onResponseStarted?.();
  const raw: Buffer[] = res.rawHeaders.map((h) => Buffer.from(h, 'latin1'));
  if (handler.onHeaders?.(res.statusCode ?? 0, raw, () => res.resume(), res.statusMessage ?? '') === false) res.pause();
  res.on('data', (chunk: Buffer) => {
    if (!isSettled() && handler.onData?.(chunk) === false) res.pause();
  });
  res.on('end', () => {
    if (isSettled()) return;
    setSettled(true);
    handler.onComplete?.([]);
  });
  res.on('error', fail);
  res.on('close', () => fail(new Error('the connection closed before the answer ended')));
}

/** fetch's headers (an object, or a flat name/value list) as node:http takes them. */
function headerObject(h: DispatchOptions['headers']): Record<string, string | string[]> {
  if (!h) return {};
  if (!Array.isArray(h)) return h;
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < h.length; i += 2) out[h[i]!] = h[i + 1]!;
  return out;
}

/** The body's bytes, read before the boundary (fetch hands a string, bytes or an async iterable of chunks). */
async function drain(body: unknown): Promise<Buffer> {
  if (body === null || body === undefined) return Buffer.alloc(0);
  if (typeof body === 'string') return Buffer.from(body, 'utf8');
  if (body instanceof Uint8Array) return Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Uint8Array | string>) chunks.push(typeof c === 'string' ? Buffer.from(c, 'utf8') : Buffer.from(c));
  return Buffer.concat(chunks);
}
