import type { Channel, Delivery } from '../notify/channel.ts';
import { channelsOf } from '../notify/channels.ts';
import { noticeOf } from '../notify/event.ts';
import { healthchecksChannel } from '../notify/healthchecks.ts';
import { escapeControl } from '../log/escape.ts';
import { redactorOf } from '../config.ts';
import { notificationJson, renderAlerts } from '../reports/render-alerts.ts';
import { colorsFor } from '../reports/render-text.ts';
import { listNotifications } from '../store/outbox/outbox.ts';
import { UsageError, intOption } from './args.ts';
import type { CommandContext } from './context.ts';
import { instantOption } from './options.ts';
import { withReader } from './reader.ts';

/** `pmf-scheduler alerts [--since T] [--limit N] [--json]`: notifications and their delivery; `alerts test`: a test. */
export async function alertsCommand(ctx: CommandContext): Promise<number> {
  const action = ctx.args[0];
  if (action === 'test') return alertsTest(ctx);
  if (action !== undefined) throw new UsageError(`Invalid alerts action ${JSON.stringify(action)}: expected nothing (the list) or test`);
  const since = instantOption('since', ctx.opts.since, ctx.now) ?? ctx.now - 86_400_000;
  const limit = intOption('limit', ctx.opts.limit, 50, 1, 100_000);
  return withReader(ctx, async (db, location) => {
    const rows = await listNotifications(db, since, limit);
    if (ctx.flags.json === true) ctx.out(JSON.stringify(rows.map(notificationJson), null, 2));
    else if (rows.length === 0) ctx.out(`No notifications since ${new Date(since).toISOString()} in ${location}`);
    else ctx.out(renderAlerts(rows, colorsFor(ctx.colors)));
    return 0;
  });
}

/**
 * Sends one `test` notification to every channel (webhooks, Telegram), and a Healthchecks `/log` ping (which records an event without
 * changing the check's state), straight from here: one line per channel with its result; exit 0 when all worked.
 */
async function alertsTest(ctx: CommandContext): Promise<number> {
  const { healthcheckPingUrl } = ctx.config;
  const channels: Channel[] = [...channelsOf(ctx.config), ...(healthcheckPingUrl === undefined ? [] : [healthchecksChannel(healthcheckPingUrl)])];
  if (channels.length === 0) {
    ctx.err('pmf-scheduler: No notification channel configured: set ALERT_WEBHOOK_URL, TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID, and/or HEALTHCHECK_PING_URL');
    return 2;
  }
  const redact = redactorOf(ctx.config);
  const notice = noticeOf('test', 'test notification from `pmf-scheduler alerts test`', ctx.now, ctx.host);
  const tries: { name: string; done: Promise<Delivery> }[] = channels.map((c) => ({ name: c.key, done: c.send(c.render(notice)) }));
  let failed = 0;
  for (const t of tries) {
    const r = await t.done;
    if (!r.ok) failed++;
    ctx.out(r.ok ? `${t.name}: delivered (HTTP ${r.status})` : `${t.name}: FAILED: ${escapeControl(redact(r.error))}`);
  }
  return failed === 0 ? 0 : 1;
}
