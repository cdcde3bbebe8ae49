#!/bin/sh
# Entrypoint of localhost/postgres: on first start with no PG_VERSION in $PGDATA (a fresh volume), initdb with the
# superuser password from POSTGRES_PASSWORD, and, when POSTGRES_APP_USER is set, a login role of that name with
# POSTGRES_APP_PASSWORD owning a database of the same name; on every start, exec postgres in the foreground.
#
# Runs as any uid that /etc/passwd knows (999, postgres, in the pod specs). PGDATA is a subdirectory of the
# volume's mount so initdb can own it with mode 0700 whatever the volume root's owner and fsGroup.
# Extra arguments are passed on to postgres.
set -eu

log() { echo "postgres-entrypoint: $*" >&2; }

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  [ -n "${POSTGRES_PASSWORD:-}" ] || { log "error: $PGDATA is not initialised and POSTGRES_PASSWORD is not set"; exit 1; }
  log "initialising $PGDATA"
  # Initialise beside PGDATA and rename: a PGDATA holding PG_VERSION is always complete.
  staging="$PGDATA.statesafe-init"
  rm -rf "$staging"
  pwfile=$(mktemp); trap 'rm -f "$pwfile"' EXIT
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$staging" -U postgres --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 \
    --encoding=UTF8 --locale=C.UTF-8 >&2
  # Clients come from pod IPs.
  echo "host all all 0.0.0.0/0 scram-sha-256" >>"$staging/pg_hba.conf"
  if [ -n "${POSTGRES_APP_USER:-}" ]; then
    [ -n "${POSTGRES_APP_PASSWORD:-}" ] || { log "error: POSTGRES_APP_USER is set without POSTGRES_APP_PASSWORD"; exit 1; }
    # Single-user mode runs one statement per line.
    user=$(printf '%s' "$POSTGRES_APP_USER" | sed 's/"/""/g')
    password=$(printf '%s' "$POSTGRES_APP_PASSWORD" | sed "s/'/''/g")
    printf '%s\n' "CREATE ROLE \"$user\" LOGIN PASSWORD '$password'" "CREATE DATABASE \"$user\" OWNER \"$user\"" \
      | postgres --single -D "$staging" postgres >/dev/null
    log "role and database $POSTGRES_APP_USER created"
  fi
  rm -rf "$PGDATA"
  mv "$staging" "$PGDATA"
  log "initialised"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/var/run/postgresql "$@"
