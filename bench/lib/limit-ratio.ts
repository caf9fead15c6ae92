import { fmt, type Summary } from './stats.ts';
import { renderTable } from './table.ts';

/** What the ratio table reads of one sender's result: its arrival lateness (slot → arrival at the receiver). */
interface Arrivals {
  sender: string;
  condition: string;
  total: Summary;
}

/**
 * Each sender's arrival p50 and p99 beside the `limit` sender's (precision-limit.ts) of the same condition, as a
 * ratio: how far from what the machine allows each one arrives. Empty when `limit` did not run.
 */
export function limitTable(results: readonly Arrivals[]): string {
  const limit = results.find((r) => r.sender === 'limit');
  if (!limit) return '';
  return renderTable(
    ['sender', 'arrival p50 ms', 'arrival p99 ms', 'p50 ÷ limit', 'p99 ÷ limit'],
    results.map((r) => [r.sender, fmt(r.total.p50), fmt(r.total.p99), `${fmt(r.total.p50 / limit.total.p50, 2)}×`, `${fmt(r.total.p99 / limit.total.p99, 2)}×`]),
  );
}
