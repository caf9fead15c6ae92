import type { Migration } from 'kysely';
import * as init from './0001_init.ts';
import * as agents from './0002_agents.ts';
import * as leases from './0003_leases.ts';
import * as leanIndexes from './0004_lean_indexes.ts';
import * as agentReady from './0005_agent_ready.ts';
import * as views from './0006_views.ts';
import * as alerts from './0007_alerts.ts';
import * as control from './0008_control.ts';
import * as controlNotify from './0009_control_notify.ts';
import * as guards from './0011_a_guards.ts';
import * as clockHold from './0012_a_clock_hold.ts';
import * as agentNotFiring from './0013_a_agent_not_firing.ts';
import * as attemptSentAt from './0014_attempt_sent_at.ts';
import * as candles from './0015_candles.ts';
import * as exchangeClock from './0016_exchange_clock.ts';

/** Every migration, imported statically so bundles and single binaries need no directory scan. Append, never edit. */
export const migrations: Record<string, Migration> = {
  '0001_init': init,
  '0002_agents': agents,
  '0003_leases': leases,
  '0004_lean_indexes': leanIndexes,
  '0005_agent_ready': agentReady,
  '0006_views': views,
  '0007_alerts': alerts,
  '0008_control': control,
  '0009_control_notify': controlNotify,
  '0011_a_guards': guards,
  '0012_a_clock_hold': clockHold,
  '0013_a_agent_not_firing': agentNotFiring,
  '0014_attempt_sent_at': attemptSentAt,
  '0015_candles': candles,
  '0016_exchange_clock': exchangeClock,
};
