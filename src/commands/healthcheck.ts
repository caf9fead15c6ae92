import { intOption } from './args.ts';
import { agentToJudge, DEFAULT_MAX_HEARTBEAT_AGE_MS, judgeHealth, worstStreak, type HealthVerdict } from '../reports/health-query.ts';
import { openDatabase } from '../store/open.ts';
import { DatabaseOpenError } from '../store/port.ts';
import type { CommandContext } from './context.ts';
import { durationOption } from './options.ts';
import { escapeControl } from '../log/escape.ts';
import { readControlState } from '../control/control-store.ts';
import { describePause, pausesAt } from '../control/state.ts';
import { symbolsOfColumn } from '../records.ts';

/**
 * `pmf-scheduler healthcheck`, for Docker's HEALTHCHECK: exit 0 when the agent's heartbeat is fresh, 1 with the
 * reason otherwise. A missing database is "unhealthy" (1), not a usage error: Docker reserves exit code 2.
 */
export async function healthcheckCommand(ctx: CommandContext): Promise<number> {
  const maxFailures = ctx.opts['max-failures'] === undefined ? undefined : intOption('max-failures', ctx.opts['max-failures'], 0, 1, 1_000_000);
  const maxAgeMs = durationOption('max-age', ctx.opts['max-age']) ?? DEFAULT_MAX_HEARTBEAT_AGE_MS;
  const maxWaitMs = durationOption('max-wait', ctx.opts['max-wait']);
  const report = (v: HealthVerdict) => {
    // The reason may quote the database (a replica's name, a server's error).
    ctx.out(`${v.healthy ? 'healthy' : 'unhealthy'}: ${escapeControl(v.reason)}`);
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
    const worst = maxFailures === undefined || agent === undefined ? undefined : await worstStreak(database.db, symbolsOfColumn(agent.symbols));
    const verdict = judgeHealth(agent, ctx.now, maxAgeMs, worst && maxFailures !== undefined ? { ...worst, limit: maxFailures } : undefined, maxWaitMs);
    // Paused is a decision, not a failure: the verdict stands, and says so.
    const pauses = pausesAt(await readControlState(database.db), ctx.now);
    return report(pauses.length === 0 ? verdict : { ...verdict, reason: `${verdict.reason}; ${pauses.map(describePause).join('; ')}` });
  } catch (err) {
    if (!database.traits.isMissingTable(err)) throw err;
    return report({ healthy: false, reason: `no heartbeat recorded in ${database.location} (an agent older than this version, or none, ran on it)` });
  } finally {
    await database.close();
  }
}
