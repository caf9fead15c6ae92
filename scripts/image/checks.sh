# shellcheck shell=bash
# The operator's checks on the stack of docker-compose.yml (sourced by scripts/image-check.sh; uses stack.sh).
# The scheduler runs as compose gives it, plus a faster pattern so the checks need seconds, not minutes.

FAST=(--env 'CRON_PATTERN=*/2 * * * * *' --env RETRY_DELAY_MS=500)

# One-shot container on the volume running the image's HEALTHCHECK command; prints its line, returns its exit code.
volume_healthcheck() {
  local test=()
  mapfile -t test < <("$engine" image inspect --format '{{range .Config.Healthcheck.Test}}{{println .}}{{end}}' "$image" | sed '/^$/d')
  [[ ${test[0]-} == CMD ]] || fail "the image has no HEALTHCHECK in exec form (${test[*]-none}): built without --format docker?"
  timeout 60 "$engine" run --rm --read-only --network none --no-healthcheck -v "$1:/app/data" --entrypoint "${test[1]}" "$image" "${test[@]:2}" 2>>"$work/one-shot.log"
}

# `history --json` as "id status trigger reason" lines, newest first: of the volume, read by a one-shot container
# (the scheduler may be stopped), or (exec_history) inside the running CONTAINER.
rows_of_json() { node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{for(const c of JSON.parse(s))console.log(c.id,c.status,c.trigger,c.reason)})'; }
volume_history() {
  timeout 60 "$engine" run --rm --read-only --network none --no-healthcheck -v "$1:/app/data" "$image" history --json --limit 100000 "${@:2}" 2>>"$work/one-shot.log" | rows_of_json
}
exec_history() { pmf "$1" history --json --limit 100000 "${@:2}" | rows_of_json; }

chk_unhealthy_before() {
  local out rc=0
  out=$(volume_healthcheck "$vol") || rc=$?
  ((rc == 1)) && [[ $out == unhealthy:* ]] || fail "HEALTHCHECK on a new volume: expected exit 1 and 'unhealthy: …', got $rc: $out"
  say "HEALTHCHECK before any agent ran: exit 1, $out"
}

chk_stack_up() {
  start_service "$S" diego
  start_service "$S" miguel
  local t0=$SECONDS
  start_service "$S" scheduler "$sched" "${FAST[@]}"
  say "diego and miguel healthy, then the scheduler started (depends_on service_healthy): $((SECONDS - t0)) s of waiting"
  "$engine" exec "$sched" getent hosts diego miguel >/dev/null ||
    fail "the service names diego and miguel do not resolve in the scheduler's container (podman with CNI needs the dnsname plugin)"
  first_health=$(health_status "$sched")
  say "scheduler's health right after start: $first_health"
}

chk_user() {
  local user uids
  user=$("$engine" inspect --format '{{.Config.User}}' "$sched")
  uids=$("$engine" exec "$sched" sh -c 'for p in /proc/[0-9]*; do stat -c %u "$p"; done' | sort -u | tr '\n' ' ')
  [[ -n $user && $user != root && $user != 0 ]] || fail "the container's user is '$user'"
  [[ $uids == '1000 ' ]] || fail "processes in the container run as uid(s) $uids, expected only 1000"
  say "user $user: every process in the container (tini, the agent) runs as uid 1000"
}

chk_no_port() {
  local exposed listening
  exposed=$("$engine" image inspect --format '{{json .Config.ExposedPorts}}' "$image")
  [[ $exposed == null || $exposed == '{}' ]] || fail "the image exposes $exposed"
  # /proc/net/* of the container's network namespace: TCP state 0A is LISTEN; any UDP socket is bound to a port.
  listening=$("$engine" exec "$sched" sh -c 'awk "FNR > 1 && \$4 == \"0A\"" /proc/net/tcp /proc/net/tcp6; awk "FNR > 1" /proc/net/udp /proc/net/udp6')
  [[ -z $listening ]] || fail "something listens in the scheduler's container: $listening"
  say "no EXPOSE, no listening TCP socket and no UDP socket in the scheduler's container"
}

chk_healthy() {
  [[ $first_health != healthy ]] || fail "healthy before its first check ran"
  wait_until 90 "the scheduler's HEALTHCHECK passing" healthy_now "$sched"
  local status
  status=$(health_status "$sched")
  [[ $status == healthy ]] || fail "health status $status after a passing check"
  say "health: $first_health -> $status after ${waited} s ($(pmf "$sched" healthcheck))"
}

chk_cycles() {
  has_cycles() { (($(cycles_in "$sched") >= 3)); }
  wait_until 60 "3 cycles in history" has_cycles
  say "$(cycles_in "$sched") cycles after ${waited} s more; last: $(pmf "$sched" history --limit 1 | tail -n 1)"
}

chk_read_only() {
  local ro out changes owner
  ro=$("$engine" inspect --format '{{.HostConfig.ReadonlyRootfs}}' "$sched")
  [[ $ro == true ]] || fail "the container's root filesystem is not read-only ($ro)"
  for path in /app/probe /tmp/probe /home/node/probe; do
    out=$("$engine" exec "$sched" touch "$path" 2>&1) && fail "$path could be written"
    [[ $out == *Read-only* ]] || fail "writing $path failed otherwise than read-only: $out"
  done
  # What the container changed in its own layer (the volume is a mount, not part of it): nothing. Podman lists
  # `C /etc` itself, the directory where it bind-mounts hosts, hostname and resolv.conf: no file in it changed.
  changes=$("$engine" diff "$sched" | grep -v -e ' /app/data$' -e '^C /etc$' || true)
  [[ -z $changes ]] || fail "the container changed its root filesystem: $changes"
  owner=$("$engine" exec "$sched" stat -c '%u %n' /app/data/pmf-scheduler.db)
  [[ $owner == '1000 /app/data/pmf-scheduler.db' ]] || fail "the database in the volume: $owner"
  say "root filesystem read-only (/app, /tmp, home refuse writes; \`diff\` empty); the database is in the volume, owned by uid 1000"
}

chk_reports() {
  pmf "$sched" history --limit 5 >"$work/history.txt" || fail "exec history"
  pmf "$sched" stats >"$work/stats.txt" || fail "exec stats"
  pmf "$sched" stats --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>JSON.parse(s))' || fail "exec stats --json"
  pmf "$sched" status >"$work/status.txt" || fail "exec status exited $? while the agent fires: $(cat "$work/status.txt")"
  say "exec history ($(wc -l <"$work/history.txt") lines), stats, stats --json and status (exit 0: firing) answer"
}

chk_pause_resume() {
  local rc
  pmf "$sched" pause --reason 'image check' --by image-check >/dev/null || fail "exec pause"
  status_is() { rc=0; pmf "$sched" status >/dev/null 2>&1 || rc=$?; ((rc == $1)); }
  wait_until 20 "status exit 3 (paused)" status_is 3
  paused_slot() { exec_history "$sched" --status skipped | grep -q ' skipped schedule paused$'; }
  wait_until 30 "a slot recorded skipped (paused)" paused_slot
  pmf "$sched" resume --reason 'image check done' --by image-check >/dev/null || fail "exec resume"
  wait_until 20 "status exit 0 after resume" status_is 0
  local before
  before=$(exec_history "$sched" | awk '$3 == "schedule" && $2 != "skipped"' | head -n 1 | cut -d' ' -f1)
  fired_again() { [[ $(exec_history "$sched" | awk '$3 == "schedule" && $2 != "skipped"' | head -n 1 | cut -d' ' -f1) != "$before" ]]; }
  wait_until 30 "a slot fired after resume" fired_again
  say "pause: status exit 3 and slots recorded skipped (paused); resume: status exit 0 and slots fire again"
}

chk_stop() {
  local grace t0 elapsed code
  grace=$("$engine" inspect --format '{{.Config.StopTimeout}}' "$sched")
  t0=$(date +%s%N)
  timeout $((grace + 30)) "$engine" stop "$sched" >/dev/null 2>>"$work/engine.log" || fail "stop: $(tail -n 3 "$work/engine.log")"
  elapsed=$((($(date +%s%N) - t0) / 1000000))
  code=$("$engine" inspect --format '{{.State.ExitCode}}' "$sched")
  ((code == 0)) || fail "the scheduler exited $code on stop: $("$engine" logs --tail 20 "$sched" 2>&1)"
  ((elapsed < grace * 1000)) || fail "stop took $elapsed ms, not within the grace of $grace s"
  "$engine" logs "$sched" 2>&1 | grep -q 'SIGTERM' || fail "the agent did not log the SIGTERM"
  local running
  running=$(volume_history "$vol" --status running) || fail "history --status running on the volume"
  [[ -z $running ]] || fail "cycles left running after stop: $running"
  local out rc=0
  out=$(volume_healthcheck "$vol") || rc=$?
  ((rc == 1)) || fail "HEALTHCHECK after the stop: exit $rc ($out), expected 1"
  say "stop: exit 0 in $elapsed ms (grace ${grace} s), no running row; HEALTHCHECK now exit 1: $out"
}

chk_volume() {
  local before first
  before=$(volume_history "$vol" | wc -l)
  first=$(volume_history "$vol" | tail -n 1 | cut -d' ' -f1)
  "$engine" rm -v "$sched" >/dev/null 2>>"$work/engine.log" || fail "rm the scheduler: $(tail -n 3 "$work/engine.log")"
  "$engine" volume inspect "$vol" >/dev/null || fail "the volume $vol is gone after rm"
  start_service "$S" scheduler "$sched" "${FAST[@]}"
  more() { (($(cycles_in "$sched") > before)); }
  wait_until 60 "new cycles in the new container" more
  local after oldest
  after=$(exec_history "$sched")
  oldest=$(tail -n 1 <<<"$after" | cut -d' ' -f1)
  [[ $oldest == "$first" ]] || fail "the new container's history starts at cycle $oldest, the old one's at $first"
  say "after rm the volume stays; a new container continues it: $(wc -l <<<"$after") cycles, from cycle $first ($before before)"
}

check_single_stack() {
  S=$prefix-one sched=$prefix-one-scheduler vol=$prefix-one-scheduler-data
  load_plan "$S" docker-compose.yml
  create_stack "$S"
  say "docker-compose.yml as $engine run commands (scripts/compose-plan.ts), scheduler with ${FAST[*]}"
  check "HEALTHCHECK unhealthy before any agent ran" chk_unhealthy_before
  check "stack up: simulators healthy, then the scheduler (depends_on)" chk_stack_up
  check "the user is not root" chk_user
  check "nothing listens on a port" chk_no_port
  check "HEALTHCHECK healthy once the agent runs" chk_healthy
  check "cycles fire" chk_cycles
  check "root filesystem read-only, only the volume written" chk_read_only
  check "exec history, stats, status" chk_reports
  check "exec pause / resume" chk_pause_resume
  check "stop: exit 0 within the grace, no running row" chk_stop
  check "the volume survives rm; a new container continues it" chk_volume
}
