import { errorLine } from './error-line.ts';
import type { Logger } from './logger.ts';

/**
 * A failing spell (a chore's, a channel's), logged once when it begins (with the reason, no stack: an unreachable database is an
 * expected condition, not a bug) and once when it ends, instead of after every try.
 */
export function spell(log: Logger, failing: (reason: string) => string, recovered: string) {
  let down = false;
  return {
    ok() {
      if (down) log.info(recovered);
      down = false;
    },
    failed(err: unknown) {
      if (!down) log.warn(failing(errorLine(err)));
      down = true;
    },
  };
}
