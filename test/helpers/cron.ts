import assert from 'node:assert/strict';
import { parseCronPattern, type CronPattern } from '../../src/time/cron-pattern.ts';

/** A pattern a test knows to be valid; an invalid one fails the test with the text and the parser's error. */
export function pattern(text: string): CronPattern {
  const r = parseCronPattern(text);
  if ('error' in r) assert.fail(`${text}: ${r.error}`);
  return r.pattern;
}
