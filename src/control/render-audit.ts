import type { AuditEntry } from './control-store.ts';
import { symbolLabel } from './state.ts';

const iso = (ms: number) => new Date(ms).toISOString();

/** An audit entry in `audit --json` (fields in docs/operating.md). */
export function auditJson(e: AuditEntry) {
  return { id: e.id, at: iso(e.at), action: e.action, symbol: e.symbol, scope: e.scope, args: e.args, reason: e.reason, by: e.by, applied: e.applied.map((a) => ({ owner: a.owner, at: iso(a.at) })), outcome: e.outcome ?? null };
}

/** `audit` as text, one action a line (its applications below it). Pure. */
export function renderAudit(entries: readonly AuditEntry[]): string {
  const lines: string[] = [];
  for (const e of entries) {
    const args = Object.entries(e.args)
      .filter(([, v]) => v !== undefined && v !== null)
      .map(([k, v]) => (v === true ? `--${k}` : `--${k} ${JSON.stringify(v)}`))
      .join(' ');
    lines.push(`#${e.id} ${iso(e.at)} ${e.action} ${e.scope} (${symbolLabel(e.symbol)}) by ${e.by}${e.reason === null ? '' : `: ${e.reason}`}${args === '' ? '' : `  [${args}]`}${e.outcome === undefined ? '' : ` → ${e.outcome}`}`);
    lines.push(e.applied.length === 0 ? '    applied by no running agent' : `    applied by ${e.applied.map((a) => `${a.owner} at ${iso(a.at)} (+${a.at - e.at} ms)`).join(', ')}`);
  }
  return lines.join('\n');
}
