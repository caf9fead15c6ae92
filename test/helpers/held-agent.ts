import { join } from 'node:path';
import { everySecondAgent } from './cli-process.ts';
import { heldReply, type Reply } from './diego-stub.ts';
import type { Scene } from './scene.ts';
import { within } from './wait.ts';

/**
 * A quiet every-second agent of the built CLI (SQLite in the scene's temp dir, a long shutdown grace) whose first POST
 * Diego holds until `held.release`: a cycle in flight to act on (a signal, a closed stream, a report). `then`: the
 * replies after the held one.
 */
export async function agentHeldAtFirstPost(s: Scene, then: Reply[] = []) {
  const held = heldReply();
  const stub = await s.stub([held.reply, ...then]);
  const db = join(s.dir(), 'history.db');
  const cli = s.cli(['run'], everySecondAgent(stub.url, db, { STATS_INTERVAL_MS: '0', SHUTDOWN_GRACE_MS: '20000' }));
  await within(held.held, 15_000, 'the first POST');
  return { held, stub, db, cli };
}
