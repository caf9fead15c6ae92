import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { queryStats } from '../src/reports/stats-query.ts';
import { queryHistory } from '../src/reports/history-query.ts';
import { parseCronPattern } from '../src/cron-pattern.ts';
const path = process.argv[2]!;
const raw = new BetterSqlite3(path, { readonly: true });
const events: { sql: string; ms: number; params: readonly unknown[] }[] = [];
const db = new Kysely<any>({ dialect: new SqliteDialect({ database: raw }), log: (e) => events.push({ sql: e.query.sql, ms: e.queryDurationMillis, params: e.query.parameters }) });
const cron = (parseCronPattern('0 * * * * *') as any).pattern;
const now = Date.now();
const cases: Record<string, () => Promise<unknown>> = {
  hist: () => queryHistory(db, { limit: 20 }),
  histFailed: () => queryHistory(db, { limit: 20, status: 'failed' }),
  histSymFailed: () => queryHistory(db, { limit: 20, status: 'failed', symbol: 'BTC/USDT' }),
  histSym7d: () => queryHistory(db, { limit: 20, symbol: 'BTC/USDT', since: now - 7 * 86400000 }),
  stats24h: () => queryStats(db, { since: now - 86400000, now, cron, symbols: ['BTC/USDT'], buckets: 24 }),
  stats7d: () => queryStats(db, { since: now - 7 * 86400000, now, cron, symbols: ['BTC/USDT'], buckets: 24 }),
};
for (const name of process.argv.slice(3)) {
  for (let i = 0; i < 3; i++) {
    events.length = 0;
    const c0 = process.cpuUsage();
    const t = performance.now();
    await cases[name]!();
    const cpu = process.cpuUsage(c0);
    console.log(name, 'wall', (performance.now() - t).toFixed(0), 'cpu', ((cpu.user + cpu.system) / 1000).toFixed(0));
  }
  if (process.env.PLAN) for (const e of events.sort((a, b) => b.ms - a.ms).slice(0, 4)) {
    console.log('  ', e.ms.toFixed(1), e.sql.slice(0, 200));
    for (const p of raw.prepare('EXPLAIN QUERY PLAN ' + e.sql).all(...(e.params as any[])) as any[]) console.log('       ', p.detail);
  }
}
