import type { Kysely } from 'kysely';
import type { Schema } from '../../src/store/schema.ts';
import { spawnCli, type CliProcess } from './cli-process.ts';
import { within } from './wait.ts';

// Every replica still running when the test process exits, whatever the reason, is killed by its PID.
const running = new Set<Replica>();
process.once('exit', () => killReplicas([...running]));

/** A spawned agent (the built CLI) named by its REPLICA_ID. */
export interface Replica extends CliProcess {
  id: string;
}

/**
 * Starts the built CLI as replica `id` (`REPLICA_ID`), every second, against `env.DATABASE_URL` and
 * `env.DIEGO_URL`, with no readiness wait, no Miguel and no stats lines unless `env` says otherwise.
 */
export function spawnReplica(id: string, env: Record<string, string>): Replica {
  const cli = spawnCli(['run'], { REPLICA_ID: id, CRON_PATTERN: '* * * * * *', MIGUEL_URL: '', WAIT_FOR_READY: 'false', STATS_INTERVAL_MS: '0', RUN_ON_START: 'false', ...env });
  const replica = Object.assign(cli, { id });
  running.add(replica);
  void replica.exited.then(() => running.delete(replica));
  return replica;
}

/** SIGTERM to each (by PID), then their exit codes; any still running after `withinMs` is killed and rejects. */
export async function stopReplicas(replicas: readonly Replica[], withinMs = 15_000): Promise<(number | null)[]> {
  for (const r of replicas) r.kill('SIGTERM');
  try {
    return (await within(Promise.all(replicas.map((r) => r.exited)), withinMs, 'the replicas to stop')).map((e) => e.code);
  } finally {
    killReplicas(replicas);
  }
}

/** SIGKILL to each replica still running (by PID): the cleanup that runs even when a test fails. */
export function killReplicas(replicas: readonly Replica[]): void {
  for (const r of replicas) r.kill('SIGKILL');
}

/** Everything a replica printed, for assertion messages. */
export const outputOf = (r: Replica): string => [`--- ${r.id} (pid ${r.pid}) ---`, ...r.stdout, ...r.stderr].join('\n');

/** One row per cycle as the HA checks need it, oldest slot first. */
export function slotRows(db: Kysely<Schema>) {
  return db.selectFrom('cycles').select(['id', 'scheduled_at', 'trigger', 'status', 'reason', 'owner', 'idempotency_key', 'attempts']).orderBy('scheduled_at').orderBy('id').execute();
}

/** The whole seconds in [from, to], as slots of `* * * * * *`. */
export function secondsBetween(from: number, to: number): number[] {
  const out: number[] = [];
  for (let s = Math.ceil(from / 1000) * 1000; s <= to; s += 1000) out.push(s);
  return out;
}
