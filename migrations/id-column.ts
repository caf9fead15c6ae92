import { PostgresAdapter, type ColumnDefinitionBuilder, type Kysely } from 'kysely';

/**
 * The one place where the migrations differ by dialect: an auto-numbered primary key is `integer primary key
 * autoincrement` on SQLite (never reusing a deleted id) and an identity column on PostgreSQL, which has no
 * `autoincrement`. The SQLite text is exactly what 0001 and 0002 always created.
 */
export function autoId(db: Kysely<any>): (c: ColumnDefinitionBuilder) => ColumnDefinitionBuilder {
  return db.getExecutor().adapter instanceof PostgresAdapter ? (c) => c.primaryKey().generatedByDefaultAsIdentity() : (c) => c.primaryKey().autoIncrement();
}
