# Shared by check-binary.sh and deno-smoke.sh (sourced, not run): takes one way of running pmf-scheduler, given as
# the array PMF (e.g. PMF=(./pmf-scheduler)), through a short life: its own simulator, a few agent cycles, a stop.
# Every wait is bounded; only processes started here are killed, by PID; CLEANUP_PIDS are killed on exit.
# Callers set SMOKE_NAME (the prefix of every line) and SMOKE_LOGS (where the logs go, shown on failure).
CLEANUP_PIDS=()

smoke_cleanup() {
  for pid in "${CLEANUP_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
}

# Prints the tail of every log in SMOKE_LOGS (a directory), so a failure in CI shows what each process said.
fail() {
  echo "$SMOKE_NAME: FAIL: $*" >&2
  for log in "${SMOKE_LOGS:-/nonexistent}"/*.log; do
    [[ -f "$log" ]] && { echo "--- $log (last 40 lines)" >&2; tail -n 40 "$log" >&2; }
  done
  exit 1
}

# wait_for SECONDS DESCRIPTION COMMAND...: polls COMMAND every 0.2 s until it succeeds.
wait_for() {
  local seconds=$1 what=$2 end=$((SECONDS + $1))
  shift 2
  until "$@"; do
    ((SECONDS < end)) || fail "timed out after ${seconds} s waiting for $what"
    sleep 0.2
  done
}

# stop_process PID SIGNAL: sends SIGNAL, waits up to 20 s, fails unless the process exits 0.
stop_process() {
  local pid=$1 signal=$2 rc=0
  kill "-$signal" "$pid"
  wait_for 20 "PID $pid to exit after SIG$signal" bash -c "! kill -0 $pid 2>/dev/null"
  wait "$pid" || rc=$?
  ((rc == 0)) || fail "PID $pid exited $rc after SIG$signal"
}

# start_simulator LOG: starts "${PMF[@]} simulator" on a free port (port 0: the kernel picks one, no race) and
# sets SIM_URL from the line it prints, SIM_PID.
start_simulator() {
  local log=$1
  "${PMF[@]}" simulator --port 0 --fail-rate 0 --latency-ms 10 >"$log" 2>&1 &
  SIM_PID=$!
  CLEANUP_PIDS+=("$SIM_PID")
  wait_for 30 "the simulator to listen ($log)" grep -qs 'listening on http://' "$log"
  SIM_URL=$(sed -n 's|.*listening on \(http://[0-9.:]*\).*|\1|p' "$log" | head -1)
  [[ -n "$SIM_URL" ]] || fail "no URL in $log"
}

# read_cycles DB: the cycles as `history --json` prints them (a JSON array of cycle views).
read_cycles() {
  "${PMF[@]}" history --db "$1" --json --limit 1000
}

# history_count DB STATUS: how many cycles `history --json` lists with STATUS.
history_count() {
  read_cycles "$1" | node -e '
    let text = ""; process.stdin.on("data", (c) => (text += c)).on("end", () => {
      const rows = JSON.parse(text);
      if (!Array.isArray(rows)) throw new Error("history --json did not print an array");
      console.log(rows.filter((r) => r.status === process.argv[1]).length);
    });' "$2"
}

has_cycles() {
  local count
  count=$(history_count "$1" succeeded 2>/dev/null) || return 1
  ((count >= $2))
}

# run_cycles DB N LOG: the agent every second against SIM_URL until N cycles succeeded (read back while it runs,
# as `history` does beside a live agent), then SIGTERM: it must finish its cycle and exit 0. No start-up cycle: its
# deadline is the next whole second, which a loaded machine can miss.
run_cycles() {
  local db=$1 n=$2 log=$3
  DIEGO_URL=$SIM_URL MIGUEL_URL= CRON_PATTERN='* * * * * *' RUN_ON_START=false DATABASE_URL=$db RETRY_DELAY_MS=100 \
    DIEGO_TIMEOUT_MS=5000 STATS_INTERVAL_MS=0 "${PMF[@]}" run >"$log" 2>&1 &
  local pid=$!
  CLEANUP_PIDS+=("$pid")
  wait_for 60 "$n succeeded cycles in $db ($log)" has_cycles "$db" "$n"
  stop_process "$pid" TERM
  grep -q 'Received SIGTERM' "$log" || fail "the agent did not log the SIGTERM ($log)"
}

# check_history DB N: after the stop, `history --json` shows at least N succeeded cycles, each with an attempt
# answered 200, and none left running. (A cycle that missed its one-second deadline on a loaded machine is allowed.)
check_history() {
  local db=$1 n=$2
  read_cycles "$db" | node -e '
    let text = ""; process.stdin.on("data", (c) => (text += c)).on("end", () => {
      const rows = JSON.parse(text), n = Number(process.argv[1]);
      const ok = rows.filter((r) => r.status === "succeeded" && r.attempts >= 1 && r.httpStatus === 200 && r.finishedAt !== null);
      const unexpected = rows.filter((r) => !ok.includes(r) && !(r.status === "failed" && r.reason === "deadline"));
      if (ok.length < n || unexpected.length > 0) {
        console.error(`expected at least ${n} succeeded cycles and no other kind than deadline misses:`, JSON.stringify(rows, null, 1));
        process.exit(1);
      }
      console.log(`${process.argv[2]}: history: ${ok.length} cycles succeeded, ${rows.length - ok.length} missed their deadline`);
    });' "$n" "$SMOKE_NAME" || fail "history --json rows"
}

# check_stats DB N: `stats --json` over all history counts at least N succeeded cycles.
check_stats() {
  local db=$1 n=$2
  "${PMF[@]}" stats --db "$db" --window all --json | node -e '
    let text = ""; process.stdin.on("data", (c) => (text += c)).on("end", () => {
      const stats = JSON.parse(text), n = Number(process.argv[1]);
      const succeeded = stats.total?.byStatus?.succeeded;
      if (!(succeeded >= n)) {
        console.error(`expected stats to count at least ${n} succeeded cycles:`, text);
        process.exit(1);
      }
      console.log(`${process.argv[2]}: stats: ${stats.total.cycles} cycles, ${succeeded} succeeded, success rate ${stats.total.successRate}`);
    });' "$n" "$SMOKE_NAME" || fail "stats --json"
}
