import type { SqliteDatabase, SqliteStatement } from 'kysely';

/** Distinct statements kept; past it, new ones are prepared per call as before (variable `IN (…)` lists, say). */
const MAX_CACHED = 256;

/**
 * kysely's SqliteDialect prepares every statement again on every call; the agent runs the same few statements each
 * cycle, so keep the prepared ones by SQL text (SQLite re-prepares a kept statement itself after a schema change).
 * Not for streamed queries (`iterate`): a kept statement is busy while a stream reads it.
 */
export function reusingStatements(db: SqliteDatabase): SqliteDatabase {
  const kept = new Map<string, SqliteStatement>();
  return {
    close: () => db.close(),
    prepare(sql) {
      let stmt = kept.get(sql);
      if (stmt === undefined) {
        stmt = db.prepare(sql);
        if (kept.size < MAX_CACHED) kept.set(sql, stmt);
      }
      return stmt;
    },
  };
}
