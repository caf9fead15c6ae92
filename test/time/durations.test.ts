import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseInstant } from '../../src/time/durations.ts';

test('parseInstant refuses days that are not in the calendar instead of rolling them over', () => {
  for (const bad of ['2024-02-30', '2023-02-29', '2024-04-31T10:00:00Z', '2024-13-01', '2024-00-10']) assert.equal(parseInstant(bad, 0), undefined, bad);
  assert.equal(parseInstant('2024-02-29', 0), Date.UTC(2024, 1, 29));
  assert.equal(parseInstant('2024-01-20T10:00:00Z', 0), Date.UTC(2024, 0, 20, 10));
  assert.equal(parseInstant('0099-01-01', 0), Date.parse('0099-01-01'), 'years below 100 stay themselves');
});
