import type { TestContext } from 'node:test';
import { startAgents, type AgentSetup } from './agent-harness.ts';
import { tempDatabaseOn, type BackendName } from './backends.ts';
import { spawnCli, type CliProcess } from './cli-process.ts';
import { startDiegoStub, type Reply } from './diego-stub.ts';
import { startFakeExchange } from './fake-exchange.ts';
import { startReceiver } from './receivers.ts';
import { spawnReplica } from './replicas.ts';
import { tempDir } from './temp-db.ts';

/**
 * What one test sets up, each piece released when the test ends, passed or failed, by a single `t.after`: last
 * acquired, first released. So the agents are killed before the directory they write into is removed (a running
 * agent recreates a deleted database file) and before the stubs they call close, with no try/finally in the test.
 * A process the test stopped itself is harmless to kill again; a release that throws does not keep the others from
 * running, and its error fails the test.
 */
export function scene(t: TestContext) {
  const releases: (() => unknown)[] = [];
  t.after(async () => {
    let failed: { err: unknown } | undefined;
    for (const release of releases.reverse()) {
      try {
        await release();
      } catch (err) {
        failed ??= { err };
      }
    }
    if (failed) throw failed.err;
  });
  const defer = (release: () => unknown) => void releases.push(release);
  const killed = <P extends CliProcess>(p: P): P => {
    defer(() => {
      p.kill('SIGKILL');
      return p.exited;
    });
    return p;
  };
  return {
    /** Runs `release` at the end of the test, before whatever was set up earlier is released. */
    defer,
    /** A temp directory, removed with everything in it. */
    dir(): string {
      const d = tempDir();
      defer(() => d.cleanup());
      return d.dir;
    },
    /** A fresh migrated database: a SQLite file in a temp dir, or a PostgreSQL schema of its own, dropped. */
    async database(backend: BackendName) {
      const db = await tempDatabaseOn(backend);
      defer(() => db.cleanup());
      return db;
    },
    async stub(script: Reply[]) {
      const stub = await startDiegoStub(script);
      defer(() => stub.close());
      return stub;
    },
    /** A fake exchange time server (Binance's /api/v3/time), its clock `offsetMs` ahead of ours. */
    async exchange(opts?: Parameters<typeof startFakeExchange>[0]) {
      const ex = await startFakeExchange(opts);
      defer(() => ex.close());
      return ex;
    },
    async receiver(answer?: Parameters<typeof startReceiver>[0]) {
      const receiver = await startReceiver(answer);
      defer(() => receiver.close());
      return receiver;
    },
    /** The built CLI, SIGKILLed (and its exit awaited) at the end. */
    cli: (...args: Parameters<typeof spawnCli>) => killed(spawnCli(...args)),
    replica: (...args: Parameters<typeof spawnReplica>) => killed(spawnReplica(...args)),
    /** In-process agents, stopped and their databases closed at the end. */
    async agents(setup: AgentSetup) {
      const group = await startAgents(setup);
      defer(() => group.close());
      return group;
    },
  };
}

/** A test's scene, for helpers that set up part of it. */
export type Scene = ReturnType<typeof scene>;
