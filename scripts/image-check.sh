#!/usr/bin/env bash
# Builds the image from the unchanged Dockerfile and checks it as an operator would (issue 25; docs/deployment.md,
# "How the image is checked"): with docker where its engine answers, else podman (installed and configured when
# missing; scripts/image/engine.sh). When the official node base cannot be pulled, a stand-in is assembled from Debian
# packages and the npm registry under the same name, and the output says so (scripts/image/stand-in.sh).
#
# Then the stack of docker-compose.yml, run with one `run` per service derived from the compose file
# (scripts/compose-plan.ts: environment, read-only root, volumes, command, health checks, stop grace, depends_on
# health), and the checks of scripts/image/checks.sh; then docker-compose.ha.yml over it with PostgreSQL
# (scripts/image/ha.sh). Every wait is bounded; containers, networks and volumes are named with a unique prefix and
# removed on exit, failure included. The image and the stand-in bases are kept: the engine's store is the cache.
#
# Usage: scripts/image-check.sh [--build-only]
# A machine where no engine can run: the script says so and exits 1 when CI=true (a check that cannot run is not a
# pass), 0 otherwise. KEEP=1 keeps the containers and volumes for a look afterwards.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
here=$repo/scripts/image
started=$SECONDS
prefix=pmf-ic-$$                                   # every container, network and volume this run creates
image=localhost/pmf-scheduler:image-check          # kept between runs: its layers are the build cache
cache=${PMF_IMAGE_CACHE:-/var/cache/pmf-image}     # the stand-in Debian root, by key
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
build_only=0
[[ ${1-} == --build-only ]] && build_only=1

timings=()
say() { echo "image-check: $*"; }
fail() {
  echo "image-check: FAILED: $*" >&2
  [[ -n ${current_check-} ]] && echo "image-check: the failing check: $current_check" >&2
  exit 1
}
# check NAME FUNCTION: runs one check, timed; its name is in the failure line.
check() {
  local t0=$SECONDS
  current_check=$1
  say "--- $1"
  "$2"
  timings+=("$(printf '%4d s  %s' $((SECONDS - t0)) "$1")")
  current_check=''
}

work=$(mktemp -d "${TMPDIR:-/tmp}/pmf-image-check.XXXXXX")
cleanup() {
  local rc=$?
  if [[ -n ${engine-} && ${KEEP:-} != 1 ]]; then
    # By name: only what this run created carries its prefix (filtered here: engines differ in what --filter matches).
    remove_named "^$prefix-"
  elif [[ ${KEEP:-} == 1 ]]; then
    say "kept containers, volumes and networks named $prefix-*, and $work"
  fi
  [[ ${KEEP:-} == 1 ]] || rm -rf "$work"
  ((rc == 0)) || echo "image-check: FAILED after $((SECONDS - started)) s" >&2
}
trap cleanup EXIT

# remove_named REGEX: the containers, then volumes, then networks whose names match.
remove_named() {
  local rm_flags=(-f -v) ctrs vols nets # -v: the anonymous volumes of the image's VOLUME (the simulators') too
  [[ $engine == podman ]] && rm_flags+=(-t 0)
  mine() { grep -E "$1" || true; }
  mapfile -t ctrs < <("$engine" ps -a --format '{{.Names}}' 2>/dev/null | mine "$1")
  ((${#ctrs[@]} == 0)) || timeout 120 "$engine" rm "${rm_flags[@]}" "${ctrs[@]}" >/dev/null 2>&1 || true
  mapfile -t vols < <("$engine" volume ls --format '{{.Name}}' 2>/dev/null | mine "$1")
  ((${#vols[@]} == 0)) || timeout 60 "$engine" volume rm -f "${vols[@]}" >/dev/null 2>&1 || true
  mapfile -t nets < <("$engine" network ls --format '{{.Name}}' 2>/dev/null | mine "$1")
  ((${#nets[@]} == 0)) || timeout 60 "$engine" network rm "${nets[@]}" >/dev/null 2>&1 || true
}

# What a run killed before its cleanup left (its pid is gone), removed before this run starts.
sweep_stale() {
  local pid
  for pid in $({ "$engine" ps -a --format '{{.Names}}'; "$engine" volume ls --format '{{.Name}}'; "$engine" network ls --format '{{.Name}}'; } 2>/dev/null |
    sed -n 's/^pmf-ic-\([0-9]*\)-.*/\1/p' | sort -u); do
    ((pid == $$)) || kill -0 "$pid" 2>/dev/null || { say "removing what an earlier run (pid $pid) left"; remove_named "^pmf-ic-$pid-"; }
  done
}

source "$here/engine.sh"
source "$here/stand-in.sh"
source "$here/stack.sh"
source "$here/checks.sh"
source "$here/ha.sh"

if ! pick_engine; then
  if [[ ${CI:-} == true ]]; then fail "no container engine can run here: $engine_missing"; fi
  say "NOT CHECKED: no container engine can run here ($engine_missing)"
  exit 0
fi
mkdir -p "$cache"
sweep_stale
say "engine: $engine $("$engine" version --format '{{.Client.Version}}' 2>/dev/null || true)"

# The Dockerfile's one base image (test/packaging/docker-files.test.ts holds every stage to it).
base=$(sed -n 's/^FROM \([^ ]*\) AS runtime$/\1/p' "$repo/Dockerfile")
[[ $base =~ ^node:([0-9]+)- ]] || fail "no 'FROM node:<major>-… AS runtime' in the Dockerfile"
major=${BASH_REMATCH[1]}
base_ref=docker.io/library/$base

base_image() {
  if is_real_image "$base_ref"; then say "base $base: the official image, already pulled"; base_kind=official; return; fi
  if timeout 120 "$engine" pull -q "$base_ref" >"$work/pull.log" 2>&1 && is_real_image "$base_ref"; then
    say "base $base: the official image, pulled"
    base_kind=official
    return
  fi
  say "base $base: CANNOT BE PULLED ($(tail -n 1 "$work/pull.log" | cut -c1-160)): using a STAND-IN built from Debian packages and the npm registry"
  [[ $engine == podman ]] || fail "the stand-in base is built with podman only"
  stand_in_node "$base_ref" "$major"
  base_kind=stand-in
}

build_image() {
  local t0=$SECONDS flags=()
  # Podman's default OCI format drops HEALTHCHECK; docker's format keeps it, as `docker build` does.
  [[ $engine == podman ]] && flags=(--pull=never --format docker)
  timeout 1500 "$engine" build "${flags[@]}" -t "$image" "$repo" >"$work/build.log" 2>&1 ||
    { tail -n 40 "$work/build.log" >&2; fail "$engine build"; }
  build_seconds=$((SECONDS - t0))
  image_size=$("$engine" image inspect --format '{{.Size}}' "$image")
  say "built $image from the Dockerfile in ${build_seconds} s ($(grep -ci 'using cache' "$work/build.log" || true) cached steps), $((image_size / 1000000)) MB on the $base_kind base"
}

check "base image $base" base_image
check "build" build_image
if ((build_only)); then say "built (--build-only)"; exit 0; fi

check_single_stack
check_ha_stack

say "timings:"
printf '  %s\n' "${timings[@]}"
say "passed in $((SECONDS - started)) s: engine $engine, base $base_kind, build ${build_seconds} s, image $((image_size / 1000000)) MB"
