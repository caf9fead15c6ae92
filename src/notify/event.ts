import { randomUUID } from 'node:crypto';
import { escapeControl } from '../log/escape.ts';
import { VERSION } from '../version.ts';

/** The notification's schema name; a breaking change gets a new version, fields are only ever added. */
export const NOTIFICATION_SCHEMA = 'pmf-scheduler.notification/v1';

export type NotificationEvent = 'failing' | 'recovered' | 'missed' | 'clock_skew' | 'clock_step' | 'storage_fault' | 'started' | 'stopping' | 'paused' | 'resumed' | 'rescheduled' | 'guard' | 'test' | 'cycle_started' | 'cycle_ended';
export type Severity = 'info' | 'warning' | 'critical';

/**
 * What the agent has to say, channel-neutral: this is what the outbox stores; each channel renders it (webhook.ts,
 * telegram.ts) at delivery. `id` names the notification on every try and every replica: a receiver that keeps the
 * ids it has seen shows each notification once (the webhook's `Idempotency-Key`).
 */
export interface Notice {
  schema: typeof NOTIFICATION_SCHEMA;
  id: string;
  event: NotificationEvent;
  severity: Severity;
  /** One line, escaped and bounded: what happened, without the icon and the agent's name. */
  headline: string;
  /** ISO 8601 UTC. */
  time: string;
  /** REPLICA_ID or host:pid of the agent that noticed. */
  replica: string;
  version: string;
  symbol?: string;
  cycle?: number;
  counts?: Record<string, number>;
  lastError?: string;
  details?: Record<string, string | number | boolean>;
}

export type NoticeFields = Partial<Pick<Notice, 'symbol' | 'cycle' | 'counts' | 'lastError' | 'details'>> & { severity?: Severity };

const SEVERITY: Record<NotificationEvent, Severity> = {
  failing: 'critical',
  recovered: 'info',
  missed: 'warning',
  clock_skew: 'warning',
  clock_step: 'critical',
  storage_fault: 'critical',
  started: 'info',
  stopping: 'info',
  paused: 'warning',
  resumed: 'info',
  rescheduled: 'info',
  guard: 'critical',
  test: 'info',
  cycle_started: 'info',
  cycle_ended: 'info',
};

// One line, bounded: a chat shows it as is, and a field from Diego could be long or hold newlines or escapes.
const oneLine = (text: string, max = 300) => {
  const flat = escapeControl(text.trim());
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** Builds a notice (pure but for its fresh id, which `id` replaces in tests). */
export function noticeOf(event: NotificationEvent, headline: string, at: number, replica: string, extra: NoticeFields = {}, id: string = randomUUID()): Notice {
  const { severity = SEVERITY[event], ...fields } = extra;
  const lastError = fields.lastError === undefined ? undefined : oneLine(fields.lastError);
  const notice: Notice = { schema: NOTIFICATION_SCHEMA, id, event, severity, headline: oneLine(headline), time: new Date(at).toISOString(), replica, version: VERSION, ...fields };
  if (lastError) notice.lastError = lastError;
  else delete notice.lastError;
  return notice;
}

/** The one line a person reads, after a channel's own icon. */
export function noticeLine(n: Notice): string {
  return `pmf-scheduler ${n.replica}: ${n.headline}${n.lastError ? ` (last error: ${n.lastError})` : ''}`;
}

/**
 * Reads a stored notice. Rows written before notices were stored channel-neutral hold the webhook body (a `text`
 * with a Slack shortcode and no `id`): its headline is the text without icon and name, and `fallbackId` (the row's)
 * names it.
 */
export function readNotice(payload: string, fallbackId: string): Notice {
  const raw = JSON.parse(payload) as Partial<Notice> & { text?: string };
  const { text, ...rest } = raw;
  const headline = raw.headline ?? (text ?? '').replace(/^:[a-z_]+: pmf-scheduler \S+: /, '').replace(/ \(last error: .*\)$/, '');
  return { ...rest, id: raw.id ?? fallbackId, headline } as Notice;
}
