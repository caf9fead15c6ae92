import { openDatabase } from '../src/store/database.ts';
import { queryStats } from '../src/reports/stats-query.ts';
import { parseCronPattern } from '../src/cron-pattern.ts';
const path = process.argv[2]!;
const d = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
const cron = (parseCronPattern('0 * * * * *') as any).pattern;
const now = Date.now();
const times: [string, number][] = [];
const db = d.db.withPlugin({
  transformQuery: (a: any) => { (globalThis as any).t0 = performance.now(); return a.node; },
  transformResult: async (a: any) => a.result,
} as any);
const orig = d.db;
for (const [label, since] of [['24h', now - 86400000], ['7d', now - 7 * 86400000]] as const) {
  const t = performance.now();
  await queryStats(d.db, { since, now, cron, symbols: ['BTC/USDT'], buckets: 24 });
  console.log(label, (performance.now() - t).toFixed(0), 'ms');
}
await d.close();
