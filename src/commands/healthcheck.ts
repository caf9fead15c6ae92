import { intOption } from '../cli-args.ts';
import { agentToJudge, DEFAULT_MAX_HEARTBEAT_AGE_MS, judgeHealth, worstStreak, type HealthVerdict } from '../reports/health-query.ts';
import { DatabaseOpenError, openDatabase } from '../store/database.ts';
import type { CommandContext } from './context.ts';
import { durationOption } from './options.ts';
import { isMissingTable } from './reader.ts';

/**
 * `pmf-scheduler healthcheck`, for Docker's HEALTHCHECK: exit 0 when the agent's heartbeat is fresh, 1 with the
 * reason otherwise. A missing database is "unhealthy" (1), not a usage error: Docker reserves exit code 2.
 */
export async function healthcheckCommand(ctx: CommandContext): Promise<number> {
  const maxFailures = ctx.opts['max-failures'] === undefined ? undefined : intOption('max-failures', ctx.opts['max-failures'], 0, 1, 1_000_000);
  const maxAgeMs = durationOption('max-age', ctx.opts['max-age']) ?? DEFAULT_MAX_HEARTBEAT_AGE_MS;
  const report = (v: HealthVerdict) => {
    ctx.out(`${v.healthy ? 'healthy' : 'unhealthy'}: ${v.reason}`);
    return v.healthy ? 0 : 1;
  };

  let database;
  try {
    database = await openDatabase(ctx.config.database, { readonly: true });
  } catch (err) {
    if (!(err instanceof DatabaseOpenError)) throw err;
    return report({ healthy: false, reason: err.kind === 'missing' ? `no agent has ever run: ${err.message}` : err.message });
  }
  try {
    const agent = await agentToJudge(database.db, ctx.host);
    const worst = maxFailures === undefined || agent === undefined ? undefined : await worstStreak(database.db, agent.symbols.split(','));
    return report(judgeHealth(agent, ctx.now, maxAgeMs, worst && maxFailures !== undefined ? { ...worst, limit: maxFailures } : undefined));
  } catch (err) {
    if (!isMissingTable(err)) throw err;
    return report({ healthy: false, reason: `no heartbeat recorded in ${database.location} (an agent older than this version, or none, ran on it)` });
  } finally {
    await database.close();
  }
}
