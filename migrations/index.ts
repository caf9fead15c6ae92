import type { Migration } from 'kysely/migration';
import * as init from './0001_init.ts';
import * as agents from './0002_agents.ts';
import * as leases from './0003_leases.ts';
import * as leanIndexes from './0004_lean_indexes.ts';

/** Every migration, imported statically so bundles and single binaries need no directory scan. Append, never edit. */
export const migrations: Record<string, Migration> = {
  '0001_init': init,
  '0002_agents': agents,
  '0003_leases': leases,
  '0004_lean_indexes': leanIndexes,
};
