/**
 * The one way an error becomes a line: its message with its code (`ECONNREFUSED: …` unless the message already says
 * it; `57P01: terminating connection due to administrator command`). A wrapper that only says "fetch failed"
 * (undici) gives way to the cause that has a code (`connect ECONNREFUSED 127.0.0.1:3001`), and an AggregateError
 * with no message of its own (a host with several addresses) to the errors it holds.
 */
export function errorLine(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; errors?: unknown; name?: unknown; cause?: unknown } | null;
  if (Array.isArray(e?.errors) && e.errors.length > 0 && !e.message) return e.errors.map(errorLine).join('; ');
  if (typeof e?.code !== 'string' && e?.cause !== undefined && e.cause !== null && hasCode(e.cause)) return errorLine(e.cause);
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : typeof e?.name === 'string' ? e.name : String(err);
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}

/** Whether an error, or one it was caused by (a few levels down), carries a code. */
function hasCode(err: unknown, depth = 0): boolean {
  const e = err as { code?: unknown; cause?: unknown } | null;
  if (typeof e?.code === 'string') return true;
  return depth < 4 && e?.cause !== undefined && e.cause !== null && hasCode(e.cause, depth + 1);
}
