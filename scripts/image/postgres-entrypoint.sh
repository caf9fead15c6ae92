#!/usr/bin/env bash
# The stand-in PostgreSQL image's entrypoint (scripts/image/stand-in.sh): the official postgres image's contract for
# what docker-compose.ha.yml uses. A new data directory is initialised with POSTGRES_USER as superuser and
# POSTGRES_PASSWORD (scram-sha-256 over the network) and gets POSTGRES_DB; then postgres runs in the foreground as
# PID 1's child of exec, listening on every interface, so SIGTERM from the engine is a smart shutdown.
set -euo pipefail
: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [[ ! -s $PGDATA/PG_VERSION ]]; then
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -U "$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm -f "$pwfile"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -k /var/run/postgresql" -w start >/dev/null
  if [[ $db != postgres ]]; then createdb -h /var/run/postgresql -U "$user" "$db"; fi
  pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql
