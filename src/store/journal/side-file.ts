import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Kysely } from 'kysely';
import type { HistoryStore } from '../port.ts';
import { execute, referredBy, type Write } from './queued-write.ts';
import type { Schema } from '../schema.ts';
import { ownClaimId, writtenAttemptId } from '../history/replay-reads.ts';

/**
 * The write queue's side file: what the queue holds during a database outage, one JSON line per write, appended
 * and fsynced before the caller goes on (so before a request is sent for a queued claim), replayed at the next start.
 * Without it a SIGKILL during an outage lost every record the queue held (10 of 14 POSTs in 10 s of lock): requests
 * that reached Diego, with no record anywhere.
 */
export interface SideFile {
  readonly path: string;
  /** Appends the write and fsyncs; throws when the file cannot take it (the write stays queued in memory). */
  append(w: Write): void;
  /** The queue is empty again, every write in the database: the file goes. */
  clear(): void;
  /** Shutdown: the file is closed and stays (the next start replays it). */
  close(): void;
  /** At start, before anything else is written: writes what a previous life left in the file, then removes it. */
  replay(store: HistoryStore, db: Kysely<Schema>): Promise<ReplayResult | undefined>;
}

export type ReplayResult = { writes: number; skipped: number } | { failed: string; keptAt: string };

/** `recoverInterrupted` holds a function and is redone at every start anyway: it is never kept. */
const kept = (w: Write) => w.kind !== 'recoverInterrupted';

/** One side file per process, so agents sharing a database never write to one file: `<base>-<pid>`. */
export const sideFilePath = (base: string, pid: number) => `${base}-${pid}`;

/**
 * The side files that dead agents of this host left beside `base`: their pid is gone, or it is our own (a previous
 * life in a container, where the pid is always the same). A live agent's file is its own business.
 */
export function sideFilesLeft(base: string, self: number, isAlive: (pid: number) => boolean): string[] {
  const prefix = `${basename(base)}-`;
  let names: string[];
  try {
    names = readdirSync(dirname(base));
  } catch {
    return [];
  }
  return names
    .map((name) => ({ name, pid: name.startsWith(prefix) ? Number(name.slice(prefix.length)) : Number.NaN }))
    .filter(({ pid }) => Number.isInteger(pid) && pid > 0 && (pid === self || !isAlive(pid)))
    .map(({ name }) => join(dirname(base), name));
}

export function sideFile(path: string): SideFile {
  let fd: number | undefined;
  return {
    path,
    append(w) {
      if (!kept(w)) return;
      fd ??= openSync(path, 'a', 0o600);
      writeSync(fd, `${JSON.stringify(w)}\n`);
      fsyncSync(fd);
    },
    clear() {
      this.close();
      rmSync(path, { force: true });
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
    async replay(store, db) {
      if (!existsSync(path)) return undefined;
      const writes: Write[] = [];
      for (const line of readFileSync(path, 'utf8').split('\n')) {
        if (line === '') continue;
        try {
          writes.push(JSON.parse(line) as Write);
        } catch {
          break; // a line torn by the kill: the write it held had not been acknowledged, nothing was sent for it
        }
      }
      try {
        const skipped = await replayWrites(writes, store, db);
        rmSync(path);
        return { writes: writes.length, skipped };
      } catch (err) {
        // Kept on disk under another name, so the next outage's file does not mix with it, and said where.
        const keptAt = `${path}.${Date.now()}.unreplayed`;
        renameSync(path, keptAt);
        return { failed: err instanceof Error ? err.message : String(err), keptAt };
      }
    },
  };
}

/**
 * Writes the kept writes in order, mapping the previous life's provisional ids to database ids. Idempotent: the
 * flush may have written some before the kill, so a claim met by its own row (same slot, same Idempotency-Key) and
 * an attempt already there (same cycle and number, same request id) are taken as written. A claim met by another
 * agent's row is skipped with everything that refers to it; returns how many writes were skipped.
 */
async function replayWrites(writes: readonly Write[], store: HistoryStore, db: Kysely<Schema>): Promise<number> {
  const ids = { cycle: new Map<number, number>(), attempt: new Map<number, number>() };
  let skipped = 0;
  const real = (table: 'cycle' | 'attempt', id: number) => (id > 0 ? id : ids[table].get(id));
  for (const w of writes) {
    if (w.kind === 'claimCycle') {
      const c = w.cycle;
      let id = await store.claimCycle(c);
      if (id === undefined) id = await ownClaimId(db, c);
      if (id === undefined) skipped++;
      else ids.cycle.set(w.temp, id);
      continue;
    }
    // What refers to a row that was never written (its claim met another agent's) goes with it.
    const ref = referredBy(w);
    if (ref !== undefined && real(ref.table, ref.id) === undefined) {
      skipped++;
      continue;
    }
    if (w.kind === 'startAttempt') {
      const cycleId = real('cycle', w.attempt.cycleId)!;
      ids.attempt.set(w.temp, (await writtenAttemptId(db, cycleId, w.attempt)) ?? (await store.startAttempt({ ...w.attempt, cycleId })));
      continue;
    }
    await execute(store, w, (table, id) => real(table, id)!);
  }
  return skipped;
}
