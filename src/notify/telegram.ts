import { createHash } from 'node:crypto';
import { isRetryableStatus } from '../records.ts';
import { post, type Channel, type Delivery } from './channel.ts';
import { noticeLine, type Notice, type Severity } from './event.ts';

/** The slice of the configuration a Telegram bot needs. */
export interface TelegramSettings {
  /** The bot's token from @BotFather (`123456:ABC…`): a secret, in the request's path. */
  token: string;
  /** A chat id (`-1001234567890`) or a public channel's `@name`. */
  chatId: string;
  /** https://api.telegram.org, or a local Bot API server (or a test's fake). */
  apiUrl: string;
}

const ICON: Record<Severity, string> = { critical: '🔴', warning: '⚠️', info: '✅' };
/** sendMessage takes 1-4096 characters. */
const MAX_TEXT = 4096;

export interface TelegramMessage {
  chat_id: string;
  text: string;
}

/** The message for a notice (pure): plain text (no parse_mode, so nothing in it needs escaping), icon first. */
export function telegramMessage(chatId: string, n: Notice): TelegramMessage {
  const text = `${ICON[n.severity]} ${noticeLine(n)}`;
  return { chat_id: chatId, text: text.length > MAX_TEXT ? `${text.slice(0, MAX_TEXT - 1)}…` : text };
}

/**
 * Reads the Bot API's answer (https://core.telegram.org/bots/api#making-requests): `{ ok: true, result }`, or
 * `{ ok: false, error_code, description, parameters?: { retry_after } }`. A 429's `retry_after` (seconds) is the
 * wait asked for; a 400 ("Bad Request: chat not found"), 401 (a bad token) or 403 (the bot was removed) will not
 * pass by trying again.
 */
export function judgeTelegram(status: number, text: string): Delivery {
  let answer: { ok?: boolean; error_code?: number; description?: string; parameters?: { retry_after?: number } } = {};
  try {
    answer = JSON.parse(text) as typeof answer;
  } catch {
    // not the Bot API's JSON (a proxy's page): judged by the status alone
  }
  if (status >= 200 && status < 300 && answer.ok === true) return { ok: true, status };
  const code = answer.error_code ?? status;
  const description = typeof answer.description === 'string' ? answer.description.slice(0, 200) : text.slice(0, 200).trim();
  const retryAfter = answer.parameters?.retry_after;
  const retryable = isRetryableStatus(code) || isRetryableStatus(status);
  return {
    ok: false,
    retryable,
    status,
    error: `Telegram ${code}${description ? `: ${description}` : ''}`,
    ...(typeof retryAfter === 'number' && retryAfter >= 0 ? { retryAfterMs: retryAfter * 1000 } : {}),
  };
}

/**
 * A Telegram bot (TELEGRAM_BOT_TOKEN + TELEGRAM_CHAT_ID) posting to one chat with `sendMessage`. Named by a digest
 * of the token and the chat: the token is never stored or logged (the redactor hides it in any text, redact.ts).
 * The Bot API has no idempotency key: a message whose answer was lost (the agent killed mid-request) may be sent
 * again after a restart, so this channel is at-least-once.
 */
export function telegramChannel(s: TelegramSettings): Channel<TelegramMessage> {
  const url = `${s.apiUrl.replace(/\/+$/, '')}/bot${s.token}/sendMessage`;
  return {
    key: `telegram:${createHash('sha256').update(`${s.token}\n${s.chatId}`).digest('hex').slice(0, 12)}`,
    render: (n) => telegramMessage(s.chatId, n),
    send: (message, signal) => post({ url, body: message, judge: judgeTelegram }, signal),
    sendsId: false,
  };
}
