import pc from 'picocolors';
import { escapeControl, escapeJson } from './escape.ts';

export type LogFormat = 'pretty' | 'json';
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

/** Levelled logging for one component; pretty lines or one JSON object per line. */
export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields, err?: unknown): void;
  error(msg: string, fields?: LogFields, err?: unknown): void;
  /** The same logger under another `[COMPONENT]` tag. */
  child(component: string): Logger;
}

/** Where lines go: info and debug to `out`, warnings and errors to `err`. */
export interface LogSink {
  out(line: string): void;
  err(line: string): void;
}

export interface LoggerOptions {
  format: LogFormat;
  level: LogLevel;
  colors: boolean;
  now: () => number;
  /** Applied to every finished line, so no secret reaches a log whatever a message holds. */
  redact: (text: string) => string;
  sink: LogSink;
  component?: string;
}

/** Creates the logger every module receives; nothing else writes to stdout or stderr. */
export function createLogger(opts: LoggerOptions): Logger {
  const c = pc.createColors(opts.colors);
  const paint: Record<LogLevel, (s: string) => string> = { debug: c.gray, info: (s) => s, warn: c.yellow, error: c.red };
  const component = opts.component ?? 'SCHEDULER';

  // Logging never kills what it reports on (issue 24 item 7): a line that cannot be built (a field JSON cannot hold)
  // or written (a sink that throws) costs that line, never the cycle that logged it.
  const write = (level: LogLevel, msg: string, fields?: LogFields, err?: unknown) => {
    if (RANK[level] < RANK[opts.level]) return;
    try {
      emit(level, msg, fields, err);
    } catch (e) {
      try {
        opts.sink.err(opts.redact(escapeControl(`[${new Date(opts.now()).toISOString()}] [${component}] Could not log a ${level} line (${e instanceof Error ? e.message : String(e)}): ${msg}`)));
      } catch {
        // the sink itself fails: there is nowhere left to say it
      }
    }
  };
  const emit = (level: LogLevel, msg: string, fields?: LogFields, err?: unknown) => {
    const time = new Date(opts.now()).toISOString();
    const stack = err instanceof Error ? (err.stack ?? `${err.name}: ${err.message}`) : err === undefined ? undefined : String(err);
    // Messages quote outside text (Diego's errors, database errors): one record stays one line whatever it holds.
    const line =
      opts.format === 'json'
        ? escapeJson(JSON.stringify({ time, level, component: component.toLowerCase(), msg, ...fields, ...(stack ? { stack } : {}) }))
        : `${c.dim(`[${time}]`)} ${c.cyan(`[${component}]`)} ${paint[level](escapeControl(msg))}${stack ? `\n${c.dim(prettyStack(err, stack))}` : ''}`;
    const safe = opts.redact(line);
    if (RANK[level] >= RANK.warn) opts.sink.err(safe);
    else opts.sink.out(safe);
  };

  return {
    debug: (msg, fields) => write('debug', msg, fields),
    info: (msg, fields) => write('info', msg, fields),
    warn: (msg, fields, err) => write('warn', msg, fields, err),
    error: (msg, fields, err) => write('error', msg, fields, err),
    child: (name) => createLogger({ ...opts, component: name }),
  };
}

/**
 * A stack for the pretty format: its frames (our code) on lines of their own, the error's message (outside text)
 * escaped, so that a newline in it cannot print a line that looks like a record.
 */
function prettyStack(err: unknown, stack: string): string {
  if (!(err instanceof Error)) return escapeControl(stack);
  const frames = stack.split('\n').filter((l) => /^\s+at /.test(l));
  return [escapeControl(`${err.name}: ${err.message}`), ...frames.map(escapeControl)].join('\n');
}
