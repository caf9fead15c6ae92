import { randomBytes } from 'node:crypto';

// W3C Trace Context (https://www.w3.org/TR/trace-context/): one trace per cycle (its id: traceIdOf in records.ts, the
// cycle's Idempotency-Key), a span per attempt, so Diego's and Miguel's logs join the cycle that caused them. Span ids
// are random from crypto; an all-zero id is invalid, so it is drawn again.

/** The `traceparent` header of one attempt: version 00, the cycle's trace, a new span, flags 01 (sampled). */
export function traceparent(traceId: string): string {
  return `00-${traceId}-${nonZeroHex(8)}-01`;
}

function nonZeroHex(bytes: number): string {
  for (;;) {
    const hex = randomBytes(bytes).toString('hex');
    if (/[^0]/.test(hex)) return hex;
  }
}
