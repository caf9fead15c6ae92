import { PostgresAdapter, sql, type Kysely } from 'kysely';

/** The PostgreSQL channel of control changes: one per database, so each notice names its schema. */
export const CONTROL_CHANNEL = 'pmf_control';

/**
 * Live control pushed (issue #12), PostgreSQL only: every bump of `control_version` (the first write of every control
 * change) sends `NOTIFY pmf_control, '<schema> <version>'`, delivered when the change commits, so listening agents
 * apply it at once instead of at their next poll. SQLite has no such thing: its agents poll the version row (one
 * read of a page in the cache).
 */
export async function up(db: Kysely<any>): Promise<void> {
  if (!(db.getExecutor().adapter instanceof PostgresAdapter)) return;
  await sql`
    CREATE FUNCTION pmf_control_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify(${sql.lit(CONTROL_CHANNEL)}, TG_TABLE_SCHEMA || ' ' || NEW.version);
      RETURN NEW;
    END
    $$`.execute(db);
  await sql`CREATE TRIGGER control_version_notify AFTER UPDATE ON control_version FOR EACH ROW EXECUTE FUNCTION pmf_control_notify()`.execute(db);
}
