# shellcheck shell=bash
# The container engine for scripts/image-check.sh (sourced; needs say/fail from there). Sets `engine` to docker or
# podman, or returns 1 with the reason in `engine_missing`.
#
# docker is used where its engine answers (`docker info`), not merely where its client is installed. Otherwise podman:
# installed with apt-get when missing and we are root (CI is), with runc and debootstrap (for stand-in bases), then
# configured in a containers.conf drop-in (written only when its content differs, so running twice changes nothing):
# - runtime runc: the default crun fails on these machines with "cgroups in hybrid mode not supported";
# - default_ulimits lowered: raising rlimits is not permitted here, so a container fails with "setrlimit
#   RLIMIT_NOFILE: operation not permitted" until the defaults are at or below the host's (lowering is allowed).
# See ../shared/NOTES.md, "Building the image here".

PODMAN_DROP_IN=/etc/containers/containers.conf.d/50-pmf-image-check.conf

pick_engine() {
  engine='' engine_missing=''
  if command -v docker >/dev/null && timeout 20 docker info >/dev/null 2>&1; then
    engine=docker
    return 0
  fi
  local docker_note='no docker client'
  command -v docker >/dev/null && docker_note='a docker client but no engine answering it'
  if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
      say "installing podman, runc and debootstrap with apt-get ($docker_note here)"
      apt_install podman runc debootstrap || { engine_missing="$docker_note; apt-get install podman runc debootstrap failed"; return 1; }
    elif ! command -v podman >/dev/null; then
      engine_missing="$docker_note, no podman, and not root to install it"
      return 1
    fi
  fi
  [[ $(id -u) == 0 ]] && configure_podman
  # With the CNI network backend (podman 4.3 in Debian 12), containers find each other by name only through the
  # dnsname plugin, a separate package: without it the scheduler never resolves `diego`.
  if [[ $(timeout 60 podman info --format '{{.Host.NetworkBackend}}' 2>/dev/null) == cni && ! -x /usr/lib/cni/dnsname && $(id -u) == 0 ]]; then
    say "installing the CNI dnsname plugin with apt-get (service names on a podman network)"
    apt_install golang-github-containernetworking-plugin-dnsname || { engine_missing='apt-get install golang-github-containernetworking-plugin-dnsname failed'; return 1; }
  fi
  engine=podman
  if ! timeout 60 podman info >/dev/null 2>&1; then
    engine_missing="$docker_note; podman is installed but \`podman info\` fails: $(timeout 60 podman info 2>&1 | tail -n 1)"
    engine=''
    return 1
  fi
}

apt_install() {
  # Other jobs on the machine may hold the dpkg lock for a while: wait for it (bounded) rather than fail.
  timeout 600 apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null &&
    DEBIAN_FRONTEND=noninteractive timeout 900 apt-get -o DPkg::Lock::Timeout=300 install -y -qq \
      --no-install-recommends "$@" >"$work/apt.log" 2>&1 || { tail -n 20 "$work/apt.log" >&2; return 1; }
}

configure_podman() {
  local want
  want=$'# Written by pmf-scheduler\'s scripts/image/engine.sh (see there why).\n[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]\n\n[engine]\nruntime = "runc"\n'
  if [[ ! -f $PODMAN_DROP_IN || $(<"$PODMAN_DROP_IN")$'\n' != "$want" ]]; then
    mkdir -p "$(dirname "$PODMAN_DROP_IN")"
    printf '%s' "$want" >"$PODMAN_DROP_IN"
    say "podman: runtime runc and lowered default ulimits in $PODMAN_DROP_IN"
  fi
}
