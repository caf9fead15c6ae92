import { lockstep, type AgentGroup } from './agent-harness.ts';

/**
 * The harness's lockstep gate for `slots` slots, plus a hook run once when agent `i` has fired `n` slots (before
 * time may move to slot n + 1): where a test breaks or mends something between two slots.
 */
export function withHooks(slots: number, hooks: Record<number, () => unknown>): (g: AgentGroup, i: number) => Promise<void> {
  const step = lockstep(slots);
  const done = new Set<number>();
  return async (g, i) => {
    await step(g, i);
    const fired = g.agents[i]!.fired;
    if (!done.has(fired)) {
      done.add(fired);
      await hooks[fired]?.();
    }
  };
}
