// The `limit` sender of the precision benchmark: what this machine allows, with nothing in the way. A keep-alive
// connection opened in advance, the request's bytes prepared, a wake-up a few ms early and a spin to the boundary,
// then one write. Not a scheduler (every whole second only): the floor the others are measured against.
//   node dist/bench/precision-limit.js URL
import { connect, type Socket } from 'node:net';
import { hiResNow } from './lib/proc.ts';

const url = process.argv[2];
if (!url) {
  process.stderr.write('usage: precision-limit URL\n');
  process.exit(2);
}
const { hostname, port } = new URL(url);
/** Woken this long before the boundary by a timer; the rest is a spin on Date.now(). */
const WAKE_EARLY_MS = 3;
const body = JSON.stringify({ symbol: 'BTC/USDT', timeframe: '1m', triggerExecution: true });
// The request as bytes, with room for the send stamp (X-Sent-At, written into the buffer at the write: the bench
// attributes arrivals to slots by it, as for the other senders).
const STAMP = '0000000000000.000';
const head = `POST /analyze HTTP/1.1\r\nhost: ${hostname}:${port}\r\ncontent-type: application/json\r\nconnection: keep-alive\r\ncontent-length: ${Buffer.byteLength(body)}\r\nx-sent-at: `;
const request = Buffer.from(`${head}${STAMP}\r\n\r\n${body}`, 'latin1');
const stampAt = Buffer.byteLength(head, 'latin1');

let socket: Socket | undefined;
/** Opens the connection (again, if the receiver closed it), well before the next boundary. */
function ensureConnected(): void {
  if (socket && !socket.destroyed) return;
  const s = connect({ host: hostname, port: Number(port), noDelay: true });
  s.on('data', () => {}); // the answers: read and dropped
  s.on('error', () => {});
  s.on('close', () => {
    if (socket === s) socket = undefined;
  });
  socket = s;
}

function arm(): void {
  const boundary = Math.floor(Date.now() / 1000) * 1000 + 1000;
  ensureConnected();
  setTimeout(() => {
    while (Date.now() < boundary) {
      // spin: the last few ms, so the write lands on the boundary
    }
    request.write(hiResNow().toFixed(3).padStart(STAMP.length, '0'), stampAt, 'latin1');
    socket?.write(request);
    arm();
  }, Math.max(0, boundary - Date.now() - WAKE_EARLY_MS));
}

arm();
process.on('SIGTERM', () => {
  socket?.destroy();
  process.exit(0);
});
