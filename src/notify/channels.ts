import type { Channel } from './channel.ts';
import { telegramChannel, type TelegramSettings } from './telegram.ts';
import { webhookChannel } from './webhook.ts';

/** The settings that name the notification channels (the Healthchecks ping is separate: healthchecks.ts). */
export interface ChannelSettings {
  alertWebhookUrls: string[];
  /** Set (token and chat) or not at all: config.ts checks both are given. */
  telegram: TelegramSettings | undefined;
  healthcheckPingUrl: string | undefined;
}

/** Every configured channel notifications go to, each by its port (channel.ts). */
export function channelsOf(s: ChannelSettings): Channel[] {
  const hooks: Channel[] = s.alertWebhookUrls.map(webhookChannel);
  return s.telegram === undefined ? hooks : [...hooks, telegramChannel(s.telegram)];
}
