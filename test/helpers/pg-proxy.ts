import { connect, createServer, type Socket } from 'node:net';

/**
 * A TCP proxy in front of PostgreSQL that loses one answer: armed with a statement's text, it passes the first
 * query carrying it to the server but keeps the server's answer from the client, until `cut` closes that
 * connection. The client then sees its connection die after the server ran (and committed) the statement, as a
 * fast shutdown or a lost network can do to it. Everything else passes both ways untouched.
 */
export interface AnswerLosingProxy {
  port: number;
  /** Resolves once a query carrying `text` was passed on to the server, its answer held back. */
  arm(text: string): Promise<void>;
  /** Closes the held connection on both sides. */
  cut(): void;
  close(): Promise<void>;
}

export async function answerLosingProxy(target: { host: string; port: number }): Promise<AnswerLosingProxy> {
  const sockets = new Set<Socket>();
  let armed: { text: string; passed: () => void } | undefined;
  let held: Socket | undefined;
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    let holding = false;
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => {
        client.destroy();
        upstream.destroy();
        sockets.delete(s);
      });
    }
    client.on('data', (chunk: Buffer) => {
      const hit = armed !== undefined && chunk.toString('latin1').includes(armed.text) ? armed : undefined;
      if (hit) {
        armed = undefined;
        holding = true;
        held = client;
      }
      upstream.write(chunk, () => hit?.passed());
    });
    upstream.on('data', (chunk: Buffer) => void (holding || client.write(chunk)));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as { port: number }).port,
    arm: (text) => new Promise<void>((passed) => (armed = { text, passed })),
    cut: () => held?.destroy(),
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
