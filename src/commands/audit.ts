import { queryAudit } from '../control/control-store.ts';
import { auditJson, renderAudit } from '../control/render-audit.ts';
import { intOption } from './args.ts';
import type { CommandContext } from './context.ts';
import { instantOption } from './options.ts';
import { withReader } from './reader.ts';
import { escapeJson, escapeLines } from '../log/escape.ts';

/** `pmf-scheduler audit [--since T] [--limit N] [--json]`: every control action, oldest first, and when each agent applied it. */
export async function auditCommand(ctx: CommandContext): Promise<number> {
  const since = instantOption('since', ctx.opts.since, ctx.now);
  const limit = intOption('limit', ctx.opts.limit, 100, 1, 100_000);
  return withReader(ctx, async (db, location) => {
    const entries = await queryAudit(db, since, limit);
    // Reasons and names come from the database (older versions and an operator's SQL wrote them): escaped on display.
    if (ctx.flags.json === true) ctx.out(escapeJson(JSON.stringify(entries.map(auditJson), null, 2)));
    else ctx.out(entries.length === 0 ? `No control action recorded${since === undefined ? '' : ' in that window'} in ${location}` : escapeLines(renderAudit(entries)));
    return 0;
  });
}
