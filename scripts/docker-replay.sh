#!/usr/bin/env bash
# Replays the Dockerfile's build and run steps without Docker (no engine runs on our machines), in a temporary
# directory, then runs the agent from the result against the built-in simulator for a few cycles.
#
# The steps come from the Dockerfile itself (scripts/dockerfile.ts reads it): each stage gets a directory standing for
# its root; COPY lines are copied, RUN lines that start with npm are run in the stage's WORKDIR (so the production
# install is a real, clean `npm ci --omit=dev`), other RUN lines (apt-get, ln, chown: changes to the system) are
# logged and their effect replayed by hand where the run needs it. The run uses the final stage's ENV, ENTRYPOINT,
# CMD, VOLUME and HEALTHCHECK, as a non-root user, with the app directory read-only: in a private mount namespace
# where / is remounted read-only and only the volume is writable (as `docker run --read-only`), or, where that is
# not allowed, with the app tree unwritable to that user. Node is this machine's (the image's major is tested by
# scripts/test-node24.sh). Bounded in time; removes its directory; stops only the processes it started.
#
# Usage: scripts/docker-replay.sh      (KEEP=1 keeps the directory for a look afterwards)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
started=$SECONDS
SEP=$'\x1f'
RUN_UID=65534 # nobody: the image's user (node, uid 1000) need not exist here; any non-root uid shows the same
RUN_GID=65534
CYCLES=4      # cycles to see before stopping the agent
say() { echo "docker-replay: $*"; }
fail() {
  echo "docker-replay: FAILED: $*" >&2
  for log in "$tmp"/*.log; do [[ -f $log ]] && { echo "--- $(basename "$log") (last lines)" >&2; tail -n 30 "$log" >&2; }; done
  exit 1
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pmf-docker-replay.XXXXXX")
chmod 755 "$tmp" # the run user must be able to reach the app below it
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [[ ${KEEP:-} == 1 ]]; then say "kept $tmp"; else chmod -R u+w "$tmp" 2>/dev/null || true; rm -rf "$tmp"; fi
}
trap cleanup EXIT

# --- build: the stages, as the Dockerfile says -------------------------------------------------------------------
plan=$(cd "$repo" && npx --no-install tsx --eval "
  import { readFileSync } from 'node:fs';
  import { formatReplayPlan, parseDockerfile, replayPlan } from './scripts/dockerfile.ts';
  console.log(formatReplayPlan(replayPlan(parseDockerfile(readFileSync('Dockerfile', 'utf8')))));
")

copy_step() { # STAGE FROM|- SOURCE DEST, paths as inside the image
  local dest=$tmp/$1$4 src
  if [[ $2 == - ]]; then src=$repo/$3; else src=$tmp/$2$3; fi
  [[ -e $src ]] || fail "COPY source $3 does not exist ($src)"
  if [[ -d $src ]]; then
    mkdir -p "$dest" && cp -a "$src/." "$dest/"
  elif [[ $4 == */ ]]; then
    mkdir -p "$dest" && cp -a "$src" "$dest"
  else
    mkdir -p "$(dirname "$dest")" && cp -a "$src" "$dest"
  fi
}

final='' workdir=/ user='' links=()
env_vars=() volumes=() entrypoint=() cmd=() healthcheck=()
# npm from the machine's cache first: the replay is offline-fast and the lock file still decides every version.
export npm_config_prefer_offline=true npm_config_audit=false npm_config_fund=false npm_config_update_notifier=false
while IFS=$SEP read -r -u 3 -a f; do
  case ${f[0]} in
    stage) final=${f[1]}; mkdir -p "$tmp/$final"; say "stage $final" ;;
    copy) copy_step "${f[1]}" "${f[2]}" "${f[3]}" "${f[4]}" ;;
    run)
      say "RUN ($final, ${f[2]}) ${f[3]}"
      mkdir -p "$tmp/${f[1]}${f[2]}"
      (cd "$tmp/${f[1]}${f[2]}" && timeout 900 sh -c "${f[3]}" </dev/null) || fail "RUN ${f[3]} in stage ${f[1]}"
      ;;
    skip)
      say "skipped system step ($final): ${f[2]}"
      # The link that puts the CLI on PATH is replayed into a bin directory of our own.
      while [[ ${f[2]} =~ ln\ -s\ ([^ ]+)\ /usr/local/bin/([^ ]+)(.*) ]]; do
        links+=("${BASH_REMATCH[2]}=${BASH_REMATCH[1]}")
        f[2]=${BASH_REMATCH[3]}
      done
      ;;
    workdir) workdir=${f[1]} ;;
    env) env_vars+=("${f[1]}=${f[2]-}") ;;
    user) user=${f[1]} ;;
    volume) volumes+=("${f[1]}") ;;
    entrypoint) entrypoint=("${f[@]:1}") ;;
    cmd) cmd=("${f[@]:1}") ;;
    healthcheck) healthcheck=("${f[@]:1}") ;;
    *) fail "unknown plan line ${f[0]}" ;;
  esac
done 3<<<"$plan"

# --- the runtime stage as an image -------------------------------------------------------------------------------
rt=$tmp/$final
app=$rt$workdir
[[ -n $user && $user != root && $user != 0* ]] || fail "USER is root or unset ($user)"
((${#volumes[@]} > 0)) || fail "no VOLUME"
mkdir -p "$tmp/bin"
for link in "${links[@]}"; do ln -s "$rt${link#*=}" "$tmp/bin/${link%%=*}"; done

# Production dependencies only, and no sources.
mapfile -t dev_deps < <(node -p "Object.keys(require('$app/package.json').devDependencies ?? {}).join('\n')")
for dep in "${dev_deps[@]}"; do [[ -z $dep || ! -e $app/node_modules/$dep ]] || fail "dev dependency $dep is in the runtime tree"; done
for dir in src test migrations; do [[ ! -e $app/$dir ]] || fail "$workdir/$dir is in the runtime tree"; done
say "runtime tree: $(ls "$app" | tr '\n' ' ')($(du -sh "$app" | cut -f1)), no dev dependency"

# Read-only app; only the volumes are writable, and only by the run user.
chmod -R a-w "$rt"
for v in "${volumes[@]}"; do
  mkdir -p "$rt$v" # root is not held back by the missing write bits
  chown "$RUN_UID:$RUN_GID" "$rt$v" && chmod 755 "$rt$v"
done

# Paths inside the image (DATABASE_URL=/app/data/…) point into the replayed root.
for i in "${!env_vars[@]}"; do
  value=${env_vars[$i]#*=}
  if [[ $value == "$workdir" || $value == "$workdir"/* ]]; then env_vars[i]="${env_vars[$i]%%=*}=$rt$value"; fi
done
db=$(printf '%s\n' "${env_vars[@]}" | sed -n 's/^DATABASE_URL=//p')
[[ -n $db ]] || fail "no DATABASE_URL in ENV"

mounts=''
for v in "${volumes[@]}"; do mounts+="mount --bind $(printf %q "$rt$v") $(printf %q "$rt$v") && "; done
mounts+='mount -o remount,ro,bind / && exec "$@"'
readonly_root=0
if unshare --mount --propagation private -- sh -c "$mounts" sh true 2>/dev/null; then readonly_root=1; fi
# Sets CONFINED: the command prefix for a process of the image: run user, the image's environment (plus "$@"),
# WORKDIR, and where allowed a read-only root with the volumes writable.
confine() {
  CONFINED=(setpriv --reuid=$RUN_UID --regid=$RUN_GID --clear-groups -- env -i -C "$app"
    PATH="$tmp/bin:$(dirname "$(command -v node)"):/usr/bin:/bin" HOME=/nonexistent "${env_vars[@]}" "$@")
  if ((readonly_root)); then CONFINED=(unshare --mount --propagation private -- sh -c "$mounts" sh "${CONFINED[@]}"); fi
}
confine
# The init is the image's own when this machine has it; otherwise the agent gets the signal directly.
ep=("${entrypoint[@]}")
if [[ ! -x ${ep[0]} ]]; then
  init=${ep[0]}
  ep=("${ep[@]:1}")
  if [[ ${ep[0]-} == -- ]]; then ep=("${ep[@]:1}"); fi
  say "init $init is not on this machine: running ${ep[*]} without it"
fi
help=$("${CONFINED[@]}" "${ep[@]}" --help) || fail "${ep[*]} --help"
has_command() { grep -Eq "^ +$1( |$)" <<<"$help"; }

# --- run: the simulator, then the agent ---------------------------------------------------------------------------
"${CONFINED[@]}" "${ep[@]}" simulator --host 127.0.0.1 --port 0 --fail-rate 0 --latency-ms 20 >"$tmp/simulator.log" 2>&1 &
sim=$!
pids+=("$sim")
url=''
for _ in $(seq 100); do
  url=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$tmp/simulator.log")
  [[ -n $url ]] && break
  kill -0 "$sim" 2>/dev/null || fail "the simulator exited"
  sleep 0.1
done
[[ -n $url ]] || fail "the simulator did not start within 10 s"
say "simulator on $url (pid $sim)"

touch "$tmp/before-run"
sleep 1 # mtime granularity: anything written from now on is newer than the marker
confine DIEGO_URL="$url" MIGUEL_URL="$url" CRON_PATTERN='* * * * * *'
say "agent: ${ep[*]} ${cmd[*]} as uid $RUN_UID in $workdir, root filesystem $( ((readonly_root)) && echo read-only || echo writable '(app tree unwritable to the user)')"
"${CONFINED[@]}" "${ep[@]}" "${cmd[@]}" >"$tmp/agent.log" 2>&1 &
agent=$!
pids+=("$agent")

# The rows, read with better-sqlite3 from the runtime tree (read-only connection): cycles succeeded attempts ok, and
# the cycles stopped at their deadline (the startup cycle of an agent that starts a few ms before a slot has only those
# ms: by design it gives up at the next slot, as smoke-lib.sh's check allows too).
read -r -d '' query <<'JS' || true
const db = new (require('better-sqlite3'))(process.argv[1], { readonly: true, fileMustExist: true });
const n = (sql) => db.prepare(sql).pluck().get();
console.log([
  n('select count(*) from cycles'), n("select count(*) from cycles where status = 'succeeded'"),
  n('select count(*) from attempts'), n("select count(*) from attempts where outcome = 'ok'"),
  n("select count(*) from cycles where status = 'failed' and reason = 'deadline'"),
].join(' '));
JS
rows() { "${CONFINED[@]}" node -e "$query" "$db" 2>/dev/null || echo '0 0 0 0 0'; }
cycles=0
for _ in $(seq 60); do
  read -r cycles _ _ _ _ <<<"$(rows)"
  ((cycles >= CYCLES)) && break
  kill -0 "$agent" 2>/dev/null || fail "the agent exited early"
  sleep 0.5
done
((cycles >= CYCLES)) || fail "only $cycles cycle(s) after 30 s"
[[ $(stat -c %u /proc/$agent) == "$RUN_UID" ]] || fail "the agent does not run as uid $RUN_UID"

if has_command healthcheck; then
  "${CONFINED[@]}" "${healthcheck[@]}" >"$tmp/healthcheck.log" 2>&1 || fail "HEALTHCHECK ${healthcheck[*]} failed while the agent runs"
  say "HEALTHCHECK ${healthcheck[*]}: healthy while the agent runs"
else
  say "SKIPPED HEALTHCHECK: this build has no healthcheck command yet"
fi

grace=$(printf '%s\n' "${env_vars[@]}" | sed -n 's/^SHUTDOWN_GRACE_MS=//p')
kill -TERM "$agent"
for _ in $(seq $(((${grace:-8000} + 5000) / 100))); do kill -0 "$agent" 2>/dev/null || break; sleep 0.1; done
kill -0 "$agent" 2>/dev/null && fail "the agent still runs $(((${grace:-8000} + 5000) / 1000)) s after SIGTERM"
rc=0
wait "$agent" || rc=$?
((rc == 0)) || fail "the agent exited $rc after SIGTERM"
kill -TERM "$sim"
rc=0
wait "$sim" || rc=$?
((rc == 0)) || fail "the simulator exited $rc after SIGTERM"
pids=()

# --- what the run left ---------------------------------------------------------------------------------------------
read -r cycles succeeded attempts ok late <<<"$(rows)"
say "rows: $cycles cycles ($succeeded succeeded, $late stopped at their deadline), $attempts attempts ($ok ok)"
((cycles >= CYCLES && succeeded + late == cycles && succeeded >= CYCLES - 1 && attempts == cycles && ok == succeeded)) ||
  fail "expected at least $CYCLES cycles, each succeeded with one ok attempt (or, at most one, stopped at its deadline)"
[[ $(stat -c %u "$db") == "$RUN_UID" ]] || fail "$db is not owned by the run user"
if has_command history; then
  listed=$("${CONFINED[@]}" "${ep[@]}" history --json --limit 1000 | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => console.log(JSON.parse(s).length))') ||
    fail "history --json"
  ((listed == cycles)) || fail "history --json lists $listed cycles, the database has $cycles"
  say "history --json lists the $listed cycles"
else
  say "SKIPPED history: this build has no history command yet (rows read with better-sqlite3 from the runtime tree)"
fi
if has_command healthcheck; then
  "${CONFINED[@]}" "${healthcheck[@]}" >>"$tmp/healthcheck.log" 2>&1 && fail "HEALTHCHECK still healthy after a clean stop"
  say "HEALTHCHECK: unhealthy after the clean stop, as it should be"
fi
# SQLite spills a large sort to a temporary file: under a read-only root it must find a writable directory
# (SQLITE_TMPDIR in the volume), else the query fails with SQLITE_IOERR_GETTEMPPATH.
if ((readonly_root)); then
  read -r -d '' big_sort <<'JS' || true
const db = new (require('better-sqlite3'))(':memory:');
db.pragma('cache_size = -64'); // 64 KiB of page cache: the sort below cannot stay in memory
const sql = 'with recursive n(i) as (select 1 union all select i + 1 from n where i < 200000) select i from n order by random()';
if (db.prepare(sql).all().length !== 200000) process.exit(1);
JS
  "${CONFINED[@]}" node -e "$big_sort" >"$tmp/sqlite-temp.log" 2>&1 || fail "a large SQLite sort under the read-only root (SQLITE_TMPDIR)"
  say "a large SQLite sort spills to a temporary file in the volume"
fi
outside=()
for v in "${volumes[@]}"; do outside+=(-not -path "$rt$v" -not -path "$rt$v/*"); done
written=$(find "$rt" -newer "$tmp/before-run" "${outside[@]}" -print)
[[ -z $written ]] || fail "written outside the volume: $written"
grep -q 'Received SIGTERM' "$tmp/agent.log" || fail "the agent did not log the SIGTERM"

say "passed in $((SECONDS - started)) s: clean production install, read-only app, uid $RUN_UID, $cycles cycles, exit 0 on SIGTERM"
