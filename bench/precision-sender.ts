// A competitor for the precision benchmark: one cron library firing `fetch` on a pattern, nothing else.
// Run as its own process (node dist/bench/precision-sender.js LIB URL PATTERN) so its timing and memory are its own.
import { Cron } from 'croner';
import { parseCronExpression } from 'cron-schedule';
import { TimerBasedCronScheduler } from 'cron-schedule/schedulers/timer-based.js';
import nodeCron from 'node-cron';
import { hiResNow } from './lib/proc.ts';

const [lib, url, pattern] = process.argv.slice(2);
if (!lib || !url || !pattern) {
  process.stderr.write('usage: precision-sender croner|node-cron|cron-schedule URL PATTERN\n');
  process.exit(2);
}
const body = JSON.stringify({ symbol: 'BTC/USDT', timeframe: '1m', triggerExecution: true });

/** The task every library runs: stamp the send time first, then post it like the agent does. */
function send(): void {
  const sentAt = hiResNow();
  fetch(`${url}/analyze`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-sent-at': sentAt.toFixed(3) }, body })
    .then((res) => res.arrayBuffer())
    .catch((err: unknown) => process.stderr.write(`send failed: ${String(err)}\n`));
}

let stop: () => void;
if (lib === 'croner') {
  const job = new Cron(pattern, send);
  stop = () => job.stop();
} else if (lib === 'node-cron') {
  const task = nodeCron.schedule(pattern, send);
  stop = () => void task.stop();
} else if (lib === 'cron-schedule') {
  const handle = TimerBasedCronScheduler.setInterval(parseCronExpression(pattern), send);
  stop = () => TimerBasedCronScheduler.clearTimeoutOrInterval(handle);
} else {
  process.stderr.write(`unknown library ${lib}\n`);
  process.exit(2);
}
process.on('SIGTERM', () => {
  stop();
  process.exit(0);
});
