import { createLogger, type Logger } from '../../src/log/logger.ts';

/** A real logger writing into arrays, so tests assert on the exact lines an operator would read. */
export function captureLog(opts: { format?: 'pretty' | 'json'; redact?: (s: string) => string; now?: () => number } = {}): Logger & { out: string[]; err: string[]; all(): string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const log = createLogger({
    format: opts.format ?? 'pretty',
    level: 'debug',
    colors: false,
    now: opts.now ?? (() => Date.now()),
    redact: opts.redact ?? ((s) => s),
    sink: { out: (l) => out.push(l), err: (l) => err.push(l) },
  });
  return Object.assign(log, { out, err, all: () => [...out, ...err] });
}
