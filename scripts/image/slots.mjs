// Reads `history --json` on stdin and checks the scheduled slots of FROM..TO (ISO times; slots every STEP seconds,
// aligned on the minute): each fired exactly once (one row per symbol), by OWNER when given. Prints one line; exit 1
// with what is missing or doubled. Used by scripts/image/ha.sh.
const [from, to, step, owner] = process.argv.slice(2);
let text = '';
process.stdin.on('data', (d) => (text += d)).on('end', () => {
  const rows = JSON.parse(text).filter((c) => c.trigger === 'schedule');
  const [start, end, stepMs] = [Date.parse(from), Date.parse(to), Number(step) * 1000];
  const problems = [];
  const owners = new Map();
  let slots = 0;
  for (let t = Math.ceil(start / stepMs) * stepMs; t <= end; t += stepMs, slots++) {
    const at = new Date(t).toISOString();
    const fired = rows.filter((c) => Date.parse(c.scheduledAt) === t);
    if (fired.length !== 1) problems.push(`${at}: ${fired.length} rows`);
    for (const c of fired) {
      owners.set(c.owner, (owners.get(c.owner) ?? 0) + 1);
      if (owner && !c.owner.startsWith(owner)) problems.push(`${at}: fired by ${c.owner}, expected ${owner}`);
    }
  }
  const split = [...owners].map(([o, n]) => `${o} ${n}`).join(', ');
  if (slots === 0) problems.push('no slot in the window');
  console.log(problems.length ? `slots ${from}..${to}: ${problems.join('; ')}` : `${slots} slots, each fired once (${split})`);
  process.exit(problems.length ? 1 : 0);
});
