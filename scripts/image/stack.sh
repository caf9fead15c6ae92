# shellcheck shell=bash
# Running a compose file's services with the engine (sourced by scripts/image-check.sh; needs engine, prefix, image,
# repo, work, say, fail). scripts/compose-plan.ts turns the files into run options; this file starts each service
# after its dependencies (`service_healthy`: its health check has passed) on one network, each container reachable
# by its service name, and waits for things with a bound.

declare -A svc_source svc_wait svc_needs
declare -A svc_args svc_cmd # words joined by U+001F
plan_services=() plan_volumes=()
US=$'\x1f'

# load_plan SUBPREFIX FILE...: reads the compose files into the svc_* tables; volumes are named SUBPREFIX-<volume>.
load_plan() {
  local sub=$1 out
  shift
  svc_source=() svc_wait=() svc_needs=() svc_args=() svc_cmd=() plan_services=() plan_volumes=()
  out=$(cd "$repo" && npx --no-install tsx scripts/compose-plan.ts "$sub" "$@") || fail "scripts/compose-plan.ts $*"
  local kind name a b
  while IFS=$US read -r kind name a b; do
    case $kind in
      volume) plan_volumes+=("$name") ;;
      service) plan_services+=("$name"); svc_source[$name]=$a ;;
      wait) svc_wait[$name]=$a ;;
      arg) svc_args[$name]+=${svc_args[$name]:+$US}$a ;;
      cmd) svc_cmd[$name]+=${svc_cmd[$name]:+$US}$a ;;
      needs) svc_needs[$name]+=" $a:$b" ;;
      *) fail "compose-plan: unknown record $kind" ;;
    esac
  done <<<"$out"
}

# wait_until SECONDS WHAT COMMAND...: runs COMMAND every second until it succeeds; fails naming WHAT after SECONDS.
wait_until() {
  local limit=$1 what=$2 t0=$SECONDS
  shift 2
  until "$@"; do
    ((SECONDS - t0 < limit)) || fail "$what: not within $limit s"
    sleep 1
  done
  waited=$((SECONDS - t0))
}

running() { [[ $("$engine" inspect --format '{{.State.Running}}' "$1" 2>/dev/null) == true ]]; }

# One health probe of CONTAINER. Podman runs health checks from systemd timers, which these machines do not have,
# so the check is run on demand (`podman healthcheck run`, which also records the status); docker runs them itself.
healthy_now() {
  running "$1" || fail "$1 is not running: $("$engine" logs --tail 20 "$1" 2>&1)"
  if [[ $engine == podman ]]; then
    timeout 60 podman healthcheck run "$1" >/dev/null 2>&1
  else
    [[ $(docker inspect --format '{{.State.Health.Status}}' "$1") == healthy ]]
  fi
}
health_status() { "$engine" inspect --format '{{.State.Health.Status}}' "$1" 2>/dev/null || "$engine" inspect --format '{{.State.Healthcheck.Status}}' "$1"; }

# start_service SUBPREFIX SERVICE [CONTAINER [EXTRA RUN OPTION...]]: after its dependencies (containers
# SUBPREFIX-DEP) are started or healthy as depends_on says, runs SERVICE as CONTAINER (default SUBPREFIX-SERVICE) on
# the network SUBPREFIX-net under the alias SERVICE.
start_service() {
  local sub=$1 name=$2 ctr=${3:-$1-$2} dep cond img args=() cmd=()
  shift 3 || shift $#
  for dep in ${svc_needs[$name]-}; do
    cond=${dep#*:} dep=${dep%%:*}
    case $cond in
      service_healthy) wait_until "${svc_wait[$dep]:-120}" "$dep healthy (depends_on of $name)" healthy_now "$sub-$dep" ;;
      service_started) running "$sub-$dep" || fail "$dep is not running (depends_on of $name)" ;;
      *) fail "depends_on condition $cond of $name is not supported" ;;
    esac
  done
  img=${svc_source[$name]}
  [[ $img == build ]] && img=$image
  [[ $img == postgres:* && -n ${STAND_IN_POSTGRES-} ]] && img=$STAND_IN_POSTGRES
  [[ -n ${svc_args[$name]-} ]] && IFS=$US read -r -a args <<<"${svc_args[$name]}"
  [[ -n ${svc_cmd[$name]-} ]] && IFS=$US read -r -a cmd <<<"${svc_cmd[$name]}"
  # Podman's --read-only also mounts tmpfs on /tmp, /var/tmp and /run, which docker's does not: compose's read_only
  # means docker's, so the image must do without them.
  [[ $engine == podman && " ${args[*]} " == *' --read-only '* ]] && args+=(--read-only-tmpfs=false)
  timeout 120 "$engine" run -d --name "$ctr" --network "$sub-net" --network-alias "$name" "${args[@]}" "$@" "$img" "${cmd[@]}" \
    >"$work/run-$ctr.log" 2>&1 || fail "run $name: $(cat "$work/run-$ctr.log")"
}

# create_stack SUBPREFIX: the network and the named volumes of the loaded plan.
create_stack() {
  local v
  "$engine" network create "$1-net" >/dev/null || fail "network create $1-net"
  for v in "${plan_volumes[@]}"; do "$engine" volume create "$v" >/dev/null || fail "volume create $v"; done
}

# pmf CONTAINER ARGS...: a pmf-scheduler command inside the running container, as an operator would (`exec`).
pmf() { timeout 60 "$engine" exec "$1" pmf-scheduler "${@:2}"; }

# The number of cycles `history --json` lists in CONTAINER (0 when it cannot answer yet).
cycles_in() { pmf "$1" history --json --limit 100000 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).length)}catch{console.log(0)}})'; }
