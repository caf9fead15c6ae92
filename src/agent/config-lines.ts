/**
 * The start-up configuration as a few lines of related settings instead of one ~900-character line (issue 24 item
 * 14). A setting no group names (a new one) goes to the last line, so none is left out. Pure.
 */
const GROUPS: [name: string, settings: readonly string[]][] = [
  ['schedule', ['CRON_PATTERN', 'ENABLE_SCHEDULER', 'RUN_ON_START', 'SYMBOLS', 'TIMEFRAME', 'TRIGGER_EXECUTION']],
  ['Diego', ['DIEGO_URL', 'DIEGO_TOKEN', 'DIEGO_TIMEOUT_MS', 'RETRY_ATTEMPTS', 'RETRY_DELAY_MS', 'MAX_RESPONSE_BYTES', 'MIGUEL_URL', 'WAIT_FOR_READY', 'READY_TIMEOUT_MS']],
  ['storage', ['DATABASE_URL', 'REPLICA_ID', 'HISTORY_RETENTION_DAYS', 'SHUTDOWN_GRACE_MS']],
  ['logs', ['LOG_FORMAT', 'LOG_LEVEL', 'STATS_INTERVAL_MS', 'METRICS_FILE']],
  ['alerts', ['ALERT_WEBHOOK_URL', 'HEALTHCHECK_PING_URL', 'ALERT_AFTER_FAILURES', 'TELEGRAM_BOT_TOKEN', 'TELEGRAM_CHAT_ID', 'TELEGRAM_API_URL']],
  ['clock', ['NTP_SERVER', 'CLOCK_CHECK_INTERVAL_MS', 'CLOCK_SKEW_WARN_MS', 'CLOCK_SKEW_MAX_MS']],
  ['guards', ['MAX_ORDERS_PER_HOUR', 'MAX_ORDERS_PER_HOUR_PER_SYMBOL', 'EXECUTION_OFF_AFTER_FAILURES', 'EXECUTION_BLACKOUT']],
  ['exchange status', ['EXCHANGE_STATUS_URL', 'EXCHANGE_STATUS_INTERVAL_MS', 'EXCHANGE_STATUS_FIELD', 'EXCHANGE_STATUS_OK', 'EXCHANGE_STATUS_FAIL_CLOSED']],
];

/** `Configuration (group): NAME=value …` lines, from describeConfig's settings. */
export function configLines(described: Readonly<Record<string, string>>): string[] {
  const named = new Set(GROUPS.flatMap(([, settings]) => settings));
  const others = Object.keys(described).filter((k) => !named.has(k));
  const groups: [string, readonly string[]][] = [...GROUPS, ['other', others]];
  return groups
    .map(([name, settings]) => [name, settings.filter((k) => k in described)] as const)
    .filter(([, settings]) => settings.length > 0)
    .map(([name, settings]) => `Configuration (${name}): ${settings.map((k) => `${k}=${described[k]}`).join(' ')}`);
}
