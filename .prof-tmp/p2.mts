import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { queryStats } from '../src/reports/stats-query.ts';
import { queryHistory } from '../src/reports/history-query.ts';
import { parseCronPattern } from '../src/cron-pattern.ts';
const path = process.argv[2]!;
const which = process.argv[3] ?? '24h';
const raw = new BetterSqlite3(path, { readonly: true });
const events: { sql: string; ms: number; params: readonly unknown[] }[] = [];
const db = new Kysely<any>({ dialect: new SqliteDialect({ database: raw }), log: (e) => events.push({ sql: e.query.sql, ms: e.queryDurationMillis, params: e.query.parameters }) });
const cron = (parseCronPattern('0 * * * * *') as any).pattern;
const now = Date.now();
const since = which === 'all' ? now - 800 * 86400000 : now - (which === '7d' ? 7 : 1) * 86400000;
const t = performance.now();
if (which === 'hist') await queryHistory(db, { limit: 20, status: 'failed', symbol: 'BTC/USDT' });
else await queryStats(db, { since, now, cron, symbols: ['BTC/USDT'], buckets: 24 });
console.log('total', (performance.now() - t).toFixed(0));
for (const e of events.sort((a, b) => b.ms - a.ms).slice(0, 6)) {
  console.log(e.ms.toFixed(1), e.sql.slice(0, 300));
  const plan = raw.prepare('EXPLAIN QUERY PLAN ' + e.sql).all(...(e.params as any[]).map((p) => p));
  for (const p of plan as any[]) console.log('     ', p.detail);
}
