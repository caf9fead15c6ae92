# shellcheck shell=bash
# docker-compose.ha.yml over docker-compose.yml (sourced by scripts/image-check.sh; uses stack.sh): PostgreSQL, the
# simulators and two scheduler replicas sharing it. Every slot fires exactly once while both run, and every slot
# still fires once one is stopped.

HA_STEP=2 # seconds between slots of the FAST pattern (checks.sh)

postgres_image() {
  local ref
  ref=$(cd "$repo" && sed -n 's/^ *image: *\(postgres:[^ ]*\).*/\1/p' docker-compose.ha.yml)
  [[ -n $ref ]] || fail "no postgres image in docker-compose.ha.yml"
  if timeout 120 "$engine" pull -q "docker.io/library/$ref" >"$work/pull-pg.log" 2>&1; then
    say "PostgreSQL: the registry's $ref"
    return
  fi
  say "PostgreSQL: $ref CANNOT BE PULLED ($(tail -n 1 "$work/pull-pg.log" | cut -c1-120)): using a STAND-IN from Debian's postgresql package"
  [[ $engine == podman ]] || fail "the stand-in PostgreSQL image is built with podman only"
  stand_in_postgres
}

# The owner prefix (host name) of a replica: REPLICA_ID defaults to host:pid, the host being the container's.
host_of() { "$engine" exec "$1" cat /proc/sys/kernel/hostname; }

ha_up() {
  start_service "$H" postgres
  start_service "$H" diego
  start_service "$H" miguel
  start_service "$H" scheduler "$H-scheduler-1" "${FAST[@]}"
  start_service "$H" scheduler "$H-scheduler-2" "${FAST[@]}"
  wait_until 90 "replica 1 healthy" healthy_now "$H-scheduler-1"
  wait_until 90 "replica 2 healthy" healthy_now "$H-scheduler-2"
  say "postgres healthy, then two scheduler replicas ($(host_of "$H-scheduler-1"), $(host_of "$H-scheduler-2")) healthy"
}

# slots_ok FROM TO [OWNER]: every slot of FROM..TO fired once (scripts/image/slots.mjs), read from replica 2.
slots_ok() {
  pmf "$H-scheduler-2" history --json --limit 100000 --since "$1" >"$work/ha-history.json" || fail "exec history on replica 2"
  node "$here/slots.mjs" "$1" "$2" "$HA_STEP" "${3-}" <"$work/ha-history.json"
}

ha_both() {
  local from to
  from=$(date -u -d '+1 sec' +%FT%TZ)
  sleep 14
  to=$(date -u -d '-3 sec' +%FT%TZ) # the slots of the last seconds may still be in flight
  local verdict
  verdict=$(slots_ok "$from" "$to") || fail "with both replicas: $verdict"
  say "both replicas: $verdict"
}

ha_one_stopped() {
  local t0 code from to survivor stopped
  t0=$SECONDS
  timeout 60 "$engine" stop "$H-scheduler-1" >/dev/null 2>>"$work/engine.log" || fail "stop replica 1: $(tail -n 3 "$work/engine.log")"
  stopped=$((SECONDS - t0))
  code=$("$engine" inspect --format '{{.State.ExitCode}}' "$H-scheduler-1")
  ((code == 0)) || fail "replica 1 exited $code on stop"
  survivor=$(host_of "$H-scheduler-2")
  from=$(date -u -d '+1 sec' +%FT%TZ)
  sleep 20
  to=$(date -u -d '-3 sec' +%FT%TZ)
  local verdict
  verdict=$(slots_ok "$from" "$to" "$survivor:") || fail "with replica 1 stopped: $verdict"
  say "replica 1 stopped (exit 0 in $stopped s); replica 2 alone: $verdict"
}

check_ha_stack() {
  H=$prefix-ha
  POSTGRES_PASSWORD=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  export POSTGRES_PASSWORD # as `.env` would give it to compose
  check "PostgreSQL image" postgres_image
  load_plan "$H" docker-compose.yml docker-compose.ha.yml
  create_stack "$H"
  check "HA stack up: postgres, simulators, two replicas" ha_up
  check "HA: two replicas, every slot fired once" ha_both
  check "HA: one replica stopped, the other fires every slot" ha_one_stopped
}
