import { execFile } from 'node:child_process';
import { errorLine } from '../../log/error-line.ts';
import type { Logger } from '../../log/logger.ts';

/**
 * Tells the service manager about the agent's state: `READY=1`, `WATCHDOG=1`, `STOPPING=1` (sd_notify(3)); resolves
 * once it was said (or could not be), never rejects.
 */
export type Notify = (state: string) => Promise<void>;

/**
 * sd_notify through systemd-notify(1), which reads NOTIFY_SOCKET from the environment it inherits: Node has no unix
 * datagram sockets. The tool waits until systemd has taken the message, so nothing is lost to its early exit; being a
 * child of the agent, it needs `NotifyAccess=all` (deploy/systemd/pmf-scheduler.service). A failure is logged once:
 * a missing watchdog ping is what systemd then reports.
 */
export function systemdNotifier(log: Logger): Notify {
  let warned = false;
  // One systemd-notify at a time, so the states arrive in the order they were said (READY before the first WATCHDOG,
  // STOPPING last).
  let previous = Promise.resolve();
  const send = (state: string) =>
    new Promise<void>((resolve) =>
      execFile('systemd-notify', [state], { timeout: 10_000 }, (err) => {
        if (err !== null && !warned) {
          warned = true;
          log.warn(`Could not tell systemd ${state} (${errorLine(err)}): is systemd-notify installed? Without it the watchdog will restart the agent`);
        }
        resolve();
      }),
    );
  return (state) => (previous = previous.then(() => send(state)));
}
