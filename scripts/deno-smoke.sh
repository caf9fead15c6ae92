#!/usr/bin/env bash
# CI: the same source under Deno 2 (the pinned `deno` dev dependency, so no download), where the store uses
# node:sqlite: a type check, the simulator and the agent for a few cycles, SIGTERM, then `history --json` and `stats`
# (JSON and text) read the rows back; then the storage test suites under `deno test`.
#
# Usage: scripts/deno-smoke.sh
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
SMOKE_NAME=deno-smoke
source "$repo/scripts/smoke-lib.sh"
started=$SECONDS
cd "$repo"
deno=$repo/node_modules/deno/deno
# Suites that import only what runs on both runtimes; under Deno they exercise node:sqlite.
storage_tests=(test/store/sqlite-driver.test.ts test/store/history-store.test.ts test/store/history-layout.test.ts test/faults/faults-storage.test.ts test/store/sea-addon.test.ts)

dir=$(mktemp -d "${TMPDIR:-/tmp}/pmf-deno.XXXXXX")
trap 'smoke_cleanup; rm -rf "$dir"' EXIT
SMOKE_LOGS=$dir
echo "$SMOKE_NAME: $("$deno" --version | head -1)"

"$deno" task --quiet check >"$dir/check.log" 2>&1 || fail "deno check failed"

PMF=("$deno" run -A "$repo/src/cli.ts")
start_simulator "$dir/simulator.log"
echo "$SMOKE_NAME: simulator on $SIM_URL"
run_cycles "$dir/history.db" 3 "$dir/agent.log"
check_history "$dir/history.db" 3
stop_process "$SIM_PID" TERM

check_stats "$dir/history.db" 3
"${PMF[@]}" stats --db "$dir/history.db" --window all >"$dir/stats.log" 2>&1 || fail "stats (text) exited $?"
grep -q 'BTC/USDT' "$dir/stats.log" || fail "the stats text shows no BTC/USDT section"

"$deno" test -A --quiet "${storage_tests[@]}" >"$dir/deno-test.log" 2>&1 || fail "deno test ${storage_tests[*]}"
echo "$SMOKE_NAME: deno test: $(sed 's/\x1b\[[0-9;]*m//g' "$dir/deno-test.log" | grep -E '^(ok|FAILED) \|' | tail -1)"
echo "$SMOKE_NAME: passed in $((SECONDS - started)) s"
