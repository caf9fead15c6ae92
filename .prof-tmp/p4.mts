import BetterSqlite3 from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { queryStats } from '../src/reports/stats-query.ts';
import { parseCronPattern } from '../src/cron-pattern.ts';
const raw = new BetterSqlite3(process.argv[2]!, { readonly: true });
const days = Number(process.argv[3] ?? 1);
// time each statement synchronously by wrapping prepare
const times = new Map<string, number>();
const origPrepare = raw.prepare.bind(raw);
(raw as any).prepare = (sqlText: string) => {
  const st = origPrepare(sqlText);
  const wrap = (fn: any) => (...a: any[]) => { const c0 = process.cpuUsage(); const r = fn.apply(st, a); const c = process.cpuUsage(c0); times.set(sqlText, (times.get(sqlText) ?? 0) + (c.user + c.system) / 1000); return r; };
  return new Proxy(st, { get(t, p) { const v = (t as any)[p]; if (p === 'all' || p === 'iterate' || p === 'run' || p === 'get') return wrap(v); return typeof v === 'function' ? v.bind(t) : v; } });
};
const db = new Kysely<any>({ dialect: new SqliteDialect({ database: raw }) });
const cron = (parseCronPattern('0 * * * * *') as any).pattern;
const now = Date.now();
for (let i = 0; i < 3; i++) { times.clear(); const c0 = process.cpuUsage(); await queryStats(db, { since: now - days * 86400000, now, cron, symbols: ['BTC/USDT'], buckets: 24 }); const c = process.cpuUsage(c0); console.log('total cpu', ((c.user + c.system) / 1000).toFixed(0), 'sql', [...times.values()].reduce((a, b) => a + b, 0).toFixed(0)); }
for (const [s, t] of [...times].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(t.toFixed(1), s.slice(0, 160));
