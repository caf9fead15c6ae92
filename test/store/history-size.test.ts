import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { sql } from 'kysely';
import { startSimulator, type Simulator } from '../../src/diego/simulator.ts';
import { openDatabase } from '../../src/store/open.ts';
import { startAgents } from '../helpers/agent-harness.ts';
import { seededRandom } from '../helpers/seeded-random.ts';
import { tempDir } from '../helpers/temp-db.ts';

// Issue #3: "at the default every-minute schedule a year of history stays well under 200 MB". The history is
// written by the real agent (scheduler, cycle, Diego client, store) against the simulator, which answers as Diego
// does (an analysis and a placed order) and fails 5% of its requests with a 503 that the agent retries; the bytes
// are SQLite's own pages of the history tables and their indexes, as they lie in the file (not vacuumed).
const CYCLES = 2000;
const SLOTS_PER_YEAR = 365 * 24 * 60;
const WELL_UNDER = 160e6; // four fifths of the 200 MB ceiling

let sim: Simulator;
const dir = tempDir('pmf-size-');
before(async () => {
  sim = await startSimulator({ random: seededRandom(11), failRate: 0.05 });
});
after(async () => {
  await sim.close();
  dir.cleanup();
});

test(`a year of every-minute history stays well under 200 MB (${CYCLES} cycles written by the agent)`, async (t) => {
  const path = join(dir.dir, 'history.db');
  const group = await startAgents({ path, env: { DIEGO_URL: sim.url, RETRY_DELAY_MS: '100' }, slots: CYCLES });
  await group.exits;
  await group.close();

  const database = await openDatabase({ kind: 'sqlite', path }, { readonly: true });
  try {
    const counts = await sql<{ cycles: number; attempts: number; retried: number; executed: number }>`
      SELECT (SELECT count(*) FROM cycles) AS cycles, (SELECT count(*) FROM attempts) AS attempts,
             (SELECT count(*) FROM cycles WHERE attempts > 1) AS retried, (SELECT sum(executed) FROM cycles) AS executed`.execute(database.db);
    const { cycles, attempts, retried, executed } = counts.rows[0]!;
    assert.equal(cycles, CYCLES);
    assert.ok(retried > 0 && executed > 0, `a realistic mix: ${retried} retried, ${executed} with an order placed`);
    const parts = await sql<{ name: string; bytes: number }>`
      SELECT name, sum(pgsize) AS bytes FROM dbstat
      WHERE name IN (SELECT name FROM sqlite_schema WHERE tbl_name IN ('cycles', 'attempts'))
      GROUP BY name ORDER BY bytes DESC`.execute(database.db);
    const bytes = parts.rows.reduce((sum, p) => sum + p.bytes, 0);
    const perCycle = bytes / cycles;
    const year = perCycle * SLOTS_PER_YEAR;
    t.diagnostic(`${cycles} cycles, ${attempts} attempts: ${perCycle.toFixed(0)} B per cycle, ${(year / 1e6).toFixed(0)} MB a year`);
    t.diagnostic(parts.rows.map((p) => `${p.name} ${(p.bytes / cycles).toFixed(0)} B`).join(', '));
    assert.ok(year < WELL_UNDER, `${(year / 1e6).toFixed(0)} MB a year (${perCycle.toFixed(0)} B per cycle) is not well under 200 MB`);
  } finally {
    await database.close();
  }
});
