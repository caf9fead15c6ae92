/**
 * SNTP (RFC 4330) in pure functions: the client's request, the server's reply read and checked, and the offset and
 * round trip from the four timestamps. The UDP exchange is `clock/ntp-query.ts`.
 */

/** Seconds from the NTP epoch (1900-01-01) to the Unix epoch. */
const NTP_UNIX_OFFSET_S = 2_208_988_800;
const PACKET_BYTES = 48;

/** Writes a Unix time in ms as a 64-bit NTP timestamp (seconds, then the fraction of a second in 2^-32 units). */
function writeTimestamp(buf: Buffer, at: number, ms: number): void {
  const seconds = Math.floor(ms / 1000);
  buf.writeUInt32BE((seconds + NTP_UNIX_OFFSET_S) >>> 0, at);
  buf.writeUInt32BE(Math.floor(((ms - seconds * 1000) / 1000) * 2 ** 32) >>> 0, at + 4);
}

function readTimestamp(buf: Buffer, at: number): number {
  const seconds = buf.readUInt32BE(at);
  const fraction = buf.readUInt32BE(at + 4);
  return (seconds - NTP_UNIX_OFFSET_S) * 1000 + (fraction / 2 ** 32) * 1000;
}

/** A client request (LI 0, version 4, mode 3) whose transmit timestamp is `sentAt`: the server echoes it back. */
export function sntpRequest(sentAt: number): Buffer {
  const buf = Buffer.alloc(PACKET_BYTES);
  buf[0] = (0 << 6) | (4 << 3) | 3;
  writeTimestamp(buf, 40, sentAt);
  return buf;
}

/** A server's reply as a server writes it (the fake server of the tests uses this too). */
export function sntpReply(request: Buffer, receivedAt: number, sentAt: number, stratum = 2): Buffer {
  const buf = Buffer.alloc(PACKET_BYTES);
  buf[0] = (0 << 6) | (4 << 3) | 4;
  buf[1] = stratum;
  request.copy(buf, 24, 40, 48); // originate = the client's transmit timestamp
  writeTimestamp(buf, 32, receivedAt);
  writeTimestamp(buf, 40, sentAt);
  return buf;
}

export interface ClockSample {
  /** How far the local clock is behind the server's (ms): positive means local time is late. */
  offsetMs: number;
  /** The round trip, less the server's own processing time (ms). */
  rttMs: number;
}

/**
 * Reads a reply to the request sent at `sentAt` (the local time written in it) and received at `receivedAt`:
 * the sample, or why the reply is not to be trusted (RFC 4330 §5: mode, version, stratum, the echoed timestamp,
 * an unsynchronised server).
 */
export function readSntpReply(reply: Buffer, sentRequest: Buffer, receivedAt: number): ClockSample | { error: string } {
  if (reply.length < PACKET_BYTES) return { error: `a ${reply.length}-byte reply, expected ${PACKET_BYTES}` };
  const leap = reply[0]! >> 6;
  const version = (reply[0]! >> 3) & 7;
  const mode = reply[0]! & 7;
  const stratum = reply[1]!;
  if (mode !== 4) return { error: `a reply in mode ${mode}, expected 4 (server)` };
  if (version < 3 || version > 4) return { error: `NTP version ${version}` };
  if (stratum === 0) return { error: `kiss-o'-death ${JSON.stringify(reply.toString('latin1', 12, 16))}: the server refuses to answer` };
  if (stratum > 15 || leap === 3) return { error: 'the server is not synchronised' };
  if (!reply.subarray(24, 32).equals(sentRequest.subarray(40, 48))) return { error: 'the reply does not answer our request' };
  const t1 = readTimestamp(sentRequest, 40);
  const t2 = readTimestamp(reply, 32);
  const t3 = readTimestamp(reply, 40);
  const t4 = receivedAt;
  return { offsetMs: (t2 - t1 + (t3 - t4)) / 2, rttMs: Math.max(0, t4 - t1 - (t3 - t2)) };
}
