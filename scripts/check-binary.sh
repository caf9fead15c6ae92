#!/usr/bin/env bash
# CI: builds the single binary (npm run build:binary), copies it ALONE into an empty directory and runs it from
# there with a cold addon cache: --version, its simulator, a few agent cycles, SIGTERM, the rows through
# `history --json` and `stats --json`, `demo` for a few seconds, four cold starts at once (the addon extraction
# race), the cache fallback to the temp dir, and the error when neither is usable. Prints the binary's size and
# start-up time.
#
# Usage: scripts/check-binary.sh      (SKIP_BUILD=1 reuses dist/pmf-scheduler)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
SMOKE_NAME=check-binary
source "$repo/scripts/smoke-lib.sh"
started=$SECONDS

[[ -n "${SKIP_BUILD:-}" ]] || (cd "$repo" && npm run --silent build:binary)

dir=$(mktemp -d "${TMPDIR:-/tmp}/pmf-binary.XXXXXX")
trap 'smoke_cleanup; rm -rf "$dir"' EXIT
SMOKE_LOGS=$dir
mkdir "$dir/run"
cp "$repo/dist/pmf-scheduler" "$dir/run/"
cd "$dir/run"
# Nothing of the project can help it: no node_modules up the tree, no Node on its PATH, a cache of its own.
export XDG_CACHE_HOME=$dir/cache TMPDIR=$dir/tmp
mkdir "$TMPDIR"
PMF=(env PATH=/nonexistent ./pmf-scheduler)

version=$(node -p "require('$repo/package.json').version")
out=$("${PMF[@]}" --version)
[[ "$out" == "pmf-scheduler/$version "* ]] || fail "--version printed '$out', expected pmf-scheduler/$version"
echo "$SMOKE_NAME: --version: $out"

start_simulator "$dir/simulator.log"
echo "$SMOKE_NAME: simulator on $SIM_URL"
run_cycles ./history.db 3 "$dir/agent.log"
check_history ./history.db 3
check_stats ./history.db 3
addons=("$XDG_CACHE_HOME"/pmf-scheduler/better_sqlite3-*.node)
[[ ${#addons[@]} -eq 1 && -f "${addons[0]}" ]] || fail "expected one extracted addon in $XDG_CACHE_HOME/pmf-scheduler, found: $(ls -A "$XDG_CACHE_HOME/pmf-scheduler")"
[[ $(stat -c %a "$XDG_CACHE_HOME/pmf-scheduler") == 700 ]] || fail "the addon cache is not mode 0700"
stop_process "$SIM_PID" TERM

# Four processes that all find the cache empty extract at once: each must come up, leaving one whole file.
export XDG_CACHE_HOME=$dir/cache-race
pids=()
for i in 1 2 3 4; do
  "${PMF[@]}" migrate --db "./race$i.db" >"$dir/race$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3 4; do
  wait "${pids[$((i - 1))]}" || fail "cold start $i of 4 failed"
done
listing=$(ls -A "$XDG_CACHE_HOME/pmf-scheduler")
[[ "$listing" == better_sqlite3-*.node && $(wc -l <<<"$listing") -eq 1 ]] || fail "after the race the cache holds: $listing"
cmp -s "$XDG_CACHE_HOME/pmf-scheduler/$listing" "${addons[0]}" || fail "the addon extracted in the race differs"

# A cache directory that cannot be created: the addon goes to a private directory under the temp dir instead.
touch "$dir/not-a-dir"
XDG_CACHE_HOME=$dir/not-a-dir "${PMF[@]}" migrate --db ./fallback.db >/dev/null
ls "$TMPDIR/pmf-scheduler-$(id -u)"/better_sqlite3-*.node >/dev/null || fail "no addon in the temp-dir fallback"
# Neither usable: exit 2 with one line that names both places.
rc=0
XDG_CACHE_HOME=$dir/not-a-dir TMPDIR=$dir/not-a-dir "${PMF[@]}" migrate --db ./none.db 2>"$dir/no-cache.err" || rc=$?
[[ $rc -eq 2 && $(wc -l <"$dir/no-cache.err") -eq 1 ]] && grep -q 'Cannot extract the SQLite addon.*not-a-dir/pmf-scheduler-' "$dir/no-cache.err" ||
  fail "with no usable cache: exit $rc, stderr: $(cat "$dir/no-cache.err")"

# demo: its own simulator and agent, for ~3 s, then Ctrl-C.
export XDG_CACHE_HOME=$dir/cache
"${PMF[@]}" demo >"$dir/demo.log" 2>&1 &
demo=$!
CLEANUP_PIDS+=("$demo")
wait_for 30 "demo to start ($dir/demo.log)" grep -q 'Demo: Diego simulator on' "$dir/demo.log"
sleep 3
stop_process "$demo" INT
[[ -s ./data/demo.db ]] || fail "demo wrote no ./data/demo.db"
echo "$SMOKE_NAME: demo ran and stopped on SIGINT"

size=$(stat -c %s ./pmf-scheduler)
timing=$(node -e '
  const { spawnSync } = require("node:child_process");
  const ms = [];
  for (let i = 0; i < 20; i++) {
    const t = process.hrtime.bigint();
    spawnSync("./pmf-scheduler", ["--version"]);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  ms.sort((a, b) => a - b);
  console.log(`median ${ms[10].toFixed(0)} ms, min ${ms[0].toFixed(0)} ms over 20 runs`);')
echo "$SMOKE_NAME: binary $((size / 1048576)) MiB; --version start-up $timing"
echo "$SMOKE_NAME: passed in $((SECONDS - started)) s"
