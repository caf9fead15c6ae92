/**
 * One line for an error: its message with its code (`ECONNREFUSED: connect ECONNREFUSED 127.0.0.1:5432`, `57P01:
 * terminating connection due to administrator command`), or those of the errors it aggregates: a host with several
 * addresses fails with an AggregateError whose own message is empty.
 */
export function errorText(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; errors?: unknown; name?: unknown } | null;
  if (Array.isArray(e?.errors) && e.errors.length > 0 && !e.message) return e.errors.map(errorText).join('; ');
  const message = typeof e?.message === 'string' && e.message !== '' ? e.message : typeof e?.name === 'string' ? e.name : String(err);
  return typeof e?.code === 'string' && !message.includes(e.code) ? `${e.code}: ${message}` : message;
}
