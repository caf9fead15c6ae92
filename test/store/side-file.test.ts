import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync } from 'node:fs';
import { createHistoryStore } from '../../src/store/history/history-store.ts';
import type { Write } from '../../src/store/journal/queued-write.ts';
import { sideFile } from '../../src/store/journal/side-file.ts';
import { attemptRows, cycleRows } from '../helpers/history-rows.ts';
import { tempDatabase } from '../helpers/temp-db.ts';

const T = Date.parse('2024-01-20T10:00:00Z');
const cycle = (slot: number, key: string) => ({ symbol: 'BTC/USDT', timeframe: '1m', trigger: 'schedule' as const, scheduledAt: slot, deadlineAt: slot + 1000, startedAt: slot, idempotencyKey: key, owner: 'h:1' });
/** One whole cycle as the queue holds it: claim, attempt, their ends, under provisional ids. */
const whole = (n: number, key: string, requestId: string): Write[] => [
  { kind: 'claimCycle', cycle: cycle(T + n * 1000, key), temp: -n },
  { kind: 'startAttempt', attempt: { cycleId: -n, number: 1, requestId, startedAt: T + n * 1000 }, temp: -n },
  { kind: 'finishAttempt', id: -n, end: { finishedAt: T + n * 1000 + 5, durationMs: 5, outcome: 'ok', httpStatus: 200 } },
  { kind: 'finishCycle', id: -n, end: { finishedAt: T + n * 1000 + 6, status: 'succeeded', attempts: 1, httpStatus: 200, executed: false } },
];

test('side file replay: idempotent over what the flush wrote before the kill; a slot another agent holds is skipped whole; a torn last line ignored', async () => {
  const t = await tempDatabase();
  try {
    const store = createHistoryStore(t.db, (s) => s);
    const file = sideFile(`${t.path}-queue-1`);
    const keys = ['0b5e3c2a-1111-4aaa-8aaa-000000000001', '0b5e3c2a-1111-4aaa-8aaa-000000000002', '0b5e3c2a-1111-4aaa-8aaa-000000000003'];
    const rids = ['0b5e3c2a-2222-4aaa-8aaa-000000000001', '0b5e3c2a-2222-4aaa-8aaa-000000000002', '0b5e3c2a-2222-4aaa-8aaa-000000000003'];
    for (const w of [...whole(1, keys[0]!, rids[0]!), ...whole(2, keys[1]!, rids[1]!), ...whole(3, keys[2]!, rids[2]!)]) file.append(w);
    appendFileSync(file.path, '{"kind":"claimCycle","cyc'); // a write cut by the kill: never acknowledged
    // The flush had written cycle 1's claim and attempt before the kill; another agent holds slot 3.
    const id1 = (await store.claimCycle(cycle(T + 1000, keys[0]!)))!;
    await store.startAttempt({ cycleId: id1, number: 1, requestId: rids[0]!, startedAt: T + 1000 });
    await store.claimCycle(cycle(T + 3000, '0b5e3c2a-3333-4aaa-8aaa-00000000000f'));

    assert.deepEqual(await sideFile(file.path).replay(store, t.db), { writes: 12, skipped: 4 });
    assert.equal(existsSync(file.path), false);
    const cycles = await cycleRows(t.db);
    assert.deepEqual(cycles.map((c) => [c.scheduled_at - T, c.status, c.idempotency_key]), [
      [1000, 'succeeded', keys[0]],
      [2000, 'succeeded', keys[1]],
      [3000, 'running', '0b5e3c2a-3333-4aaa-8aaa-00000000000f'],
    ]);
    assert.deepEqual((await attemptRows(t.db)).map((a) => [a.cycle_id, a.number, a.outcome]), [[cycles[0]!.id, 1, 'ok'], [cycles[1]!.id, 1, 'ok']]);
    assert.equal(await sideFile(file.path).replay(store, t.db), undefined, 'nothing left to replay');
  } finally {
    await t.cleanup();
  }
});
