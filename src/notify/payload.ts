import { escapeControl } from '../log/escape.ts';
import { VERSION } from '../version.ts';

/** The notification body's schema name; a breaking change gets a new version, fields are only ever added. */
export const NOTIFICATION_SCHEMA = 'pmf-scheduler.notification/v1';

export type NotificationEvent = 'failing' | 'recovered' | 'missed' | 'clock_skew' | 'storage_fault' | 'started' | 'stopping' | 'paused' | 'resumed' | 'rescheduled' | 'guard' | 'test';
export type Severity = 'info' | 'warning' | 'critical';

/** What a notification says; `text` is the line a chat webhook (Slack, Mattermost, Discord's /slack) shows as is. */
export interface NotificationBody {
  schema: typeof NOTIFICATION_SCHEMA;
  event: NotificationEvent;
  severity: Severity;
  text: string;
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

const SEVERITY: Record<NotificationEvent, Severity> = {
  failing: 'critical',
  recovered: 'info',
  missed: 'warning',
  clock_skew: 'warning',
  storage_fault: 'critical',
  started: 'info',
  stopping: 'info',
  paused: 'warning',
  resumed: 'info',
  rescheduled: 'info',
  guard: 'critical',
  test: 'info',
};

const ICON: Record<Severity, string> = { critical: ':red_circle:', warning: ':warning:', info: ':white_check_mark:' };

// One line, bounded: a chat shows it as is, and a field from Diego could be long or hold newlines or escapes.
const oneLine = (text: string, max = 300) => {
  const flat = escapeControl(text.trim());
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
};

/** Builds a notification body (pure). `headline` is the text after the icon and the agent's name. */
export function notificationBody(
  event: NotificationEvent,
  headline: string,
  at: number,
  replica: string,
  extra: Partial<Pick<NotificationBody, 'symbol' | 'cycle' | 'counts' | 'lastError' | 'details'>> & { severity?: Severity } = {},
): NotificationBody {
  const severity = extra.severity ?? SEVERITY[event];
  const lastError = extra.lastError === undefined ? undefined : oneLine(extra.lastError);
  const text = `${ICON[severity]} pmf-scheduler ${replica}: ${oneLine(headline)}${lastError ? ` (last error: ${lastError})` : ''}`;
  const { severity: _omit, ...fields } = extra;
  return { schema: NOTIFICATION_SCHEMA, event, severity, text, time: new Date(at).toISOString(), replica, version: VERSION, ...fields, ...(lastError ? { lastError } : {}) };
}
