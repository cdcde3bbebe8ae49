#!/bin/bash
# Entrypoint of localhost/mariadb. On first start with an empty datadir (a
# fresh PVC) it initialises the database and sets the root password; on every
# start it then execs mariadbd in the foreground so it gets the signals.
#
# Environment: MARIADB_ROOT_PASSWORD (required to initialise),
#              MARIADB_DATABASE (optional, created at initialisation).
# Extra arguments are passed on to mariadbd.
#
# As root it prepares the directories and runs mariadbd as user mysql. As any other uid (runAsUser, as
# PodSecurity `restricted` and OpenShift's arbitrary uids demand) it runs everything as that uid: the
# volume must then be writable by it (an fsGroup on storage that applies it), /run/mysqld is writable
# by group 0, which OpenShift gives every arbitrary uid, and nothing is chowned.
set -euo pipefail

DATADIR=/var/lib/mysql
RUNDIR=/run/mysqld
# Initialisation happens here, inside the volume, and is moved into place
# with mysql/ last: a datadir holding mysql/ is always a complete one, so a
# container killed mid-initialisation simply starts over.
STAGING=$DATADIR/.statesafe-init
INIT_SOCKET=$RUNDIR/init.sock

log() { echo "mariadb-entrypoint: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Only root can switch to mysql; anyone else runs mariadbd and mariadb-install-db as itself. An arbitrary uid has no
# name, so unix_socket cannot let it in as root@localhost: initialisation then leaves root@localhost without a
# password (only on the init socket, with networking off) until secure_sql sets it.
if [ "$(id -u)" = 0 ]; then
  AS_MYSQL=(--user=mysql)
  INSTALL_AUTH=()
else
  AS_MYSQL=()
  INSTALL_AUTH=(--auth-root-authentication-method=normal)
fi

sql_string() {
  local s=${1//\\/\\\\}
  s=${s//\'/\\\'}
  printf "'%s'" "$s"
}

sql_ident() {
  # shellcheck disable=SC2016  # literal backticks
  printf '`%s`' "${1//\`/\`\`}"
}

prepare_dirs() {
  if [ "$(id -u)" != 0 ]; then
    [ -w "$DATADIR" ] || die "$DATADIR is not writable by uid $(id -u) (groups $(id -G)); give the pod an fsGroup on storage that applies it, or run as root"
    [ -w "$RUNDIR" ] || die "$RUNDIR is not writable by uid $(id -u) (groups $(id -G)); run with group 0 (no runAsGroup) or as root"
    return 0
  fi
  mkdir -p "$DATADIR" "$RUNDIR"
  chown mysql:mysql "$RUNDIR"
  # A fresh volume is owned by root, and restored files may be too; only
  # touch what is wrong so large datadirs start fast.
  find "$DATADIR" ! -user mysql -exec chown -h mysql:mysql {} +
}

wait_for_init_server() {
  local pid=$1 _
  for _ in $(seq 1 60); do
    mariadb-admin --socket="$INIT_SOCKET" ping --silent >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || die "mariadbd exited during initialisation"
    sleep 1
  done
  die "mariadbd did not answer within 60s during initialisation"
}

secure_sql() {
  local pw db
  pw=$(sql_string "$MARIADB_ROOT_PASSWORD")
  cat <<SQL
-- mariadb-install-db adds a proxy grant for the initialising container's
-- hostname, which every later start would warn about (skip-name-resolve).
DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';
FLUSH PRIVILEGES;
-- unix_socket stays, so root inside the container needs no password.
ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD($pw) OR unix_socket;
CREATE USER 'root'@'%' IDENTIFIED BY $pw;
GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION;
SQL
  if [ -n "${MARIADB_DATABASE:-}" ]; then
    db=$(sql_ident "$MARIADB_DATABASE")
    echo "CREATE DATABASE IF NOT EXISTS $db;"
  fi
}

initialise() {
  [ -n "${MARIADB_ROOT_PASSWORD:-}" ] \
    || die "$DATADIR is not initialised and MARIADB_ROOT_PASSWORD is not set; set it so the root password can be configured"
  log "initialising $DATADIR"
  rm -rf "$STAGING"
  if [ "$(id -u)" = 0 ]; then
    install -d -o mysql -g mysql "$STAGING"
  else
    install -d "$STAGING"
  fi
  mariadb-install-db "${AS_MYSQL[@]}" "${INSTALL_AUTH[@]}" --datadir="$STAGING" --skip-test-db >/tmp/install-db.log 2>&1 \
    || { cat /tmp/install-db.log >&2; die "mariadb-install-db failed"; }

  mariadbd "${AS_MYSQL[@]}" --datadir="$STAGING" --skip-networking \
    --socket="$INIT_SOCKET" --pid-file="$RUNDIR/init.pid" &
  local pid=$!
  wait_for_init_server "$pid"
  secure_sql | mariadb --protocol=socket --socket="$INIT_SOCKET" -uroot \
    || { kill "$pid"; die "setting the root password failed"; }
  # With the password: unix_socket only lets in the OS user root, not an arbitrary uid.
  MYSQL_PWD=$MARIADB_ROOT_PASSWORD mariadb-admin --socket="$INIT_SOCKET" -uroot shutdown
  wait "$pid" || true

  publish_staging
  log "initialised; root password set${MARIADB_DATABASE:+, database $MARIADB_DATABASE created}"
}

publish_staging() {
  local entry name
  for entry in "$STAGING"/* "$STAGING"/.[!.]*; do
    [ -e "$entry" ] || continue
    name=$(basename "$entry")
    [ "$name" = mysql ] && continue
    rm -rf "${DATADIR:?}/$name"  # leftovers of an interrupted earlier attempt
    mv "$entry" "$DATADIR/"
  done
  rm -rf "$DATADIR/mysql"
  mv "$STAGING/mysql" "$DATADIR/mysql"
  rmdir "$STAGING"
}

prepare_dirs
if [ ! -d "$DATADIR/mysql" ]; then
  initialise
fi
exec mariadbd "${AS_MYSQL[@]}" --datadir="$DATADIR" --bind-address=0.0.0.0 --port=3306 "$@"
