import type { Kysely } from 'kysely';
import { applyControl } from '../../src/control/apply.ts';
import type { Pause, PauseScope } from '../../src/control/state.ts';
import type { Schema } from '../../src/store/schema.ts';

/**
 * A pause and a resume written the one way a command writes them (applyControl), at a time a test chooses: the
 * guards' and slots' tests set the control state up through these.
 */
interface Given {
  symbol: string;
  scope: PauseScope;
  args?: Record<string, unknown>;
  reason: string | undefined;
  by: string;
  at: number;
}

export async function pause(db: Kysely<Schema>, a: Given & { action?: 'pause'; reason: string; until: number | null; abort: boolean; from?: number }): Promise<{ auditId: number; version: number }> {
  const applied = await applyControl(db, { kind: 'pause', symbol: a.symbol, scope: a.scope, reason: a.reason, by: a.by, args: a.args ?? {}, from: a.from, until: a.until, abort: a.abort }, () => a.at);
  if (applied.outcome !== 'applied') throw new Error(`pause not applied: ${applied.why}`);
  return { auditId: applied.auditId, version: applied.version };
}

export async function resume(db: Kysely<Schema>, a: Given & { action?: 'resume'; planned?: boolean }): Promise<{ lifted: Pause[]; auditId?: number }> {
  const applied = await applyControl(db, { kind: 'resume', symbol: a.symbol, scope: a.scope, reason: a.reason, by: a.by, args: a.args ?? {}, planned: a.planned }, () => a.at);
  return applied.outcome === 'applied' ? { lifted: applied.lifted, auditId: applied.auditId } : { lifted: [] };
}
