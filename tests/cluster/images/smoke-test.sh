#!/usr/bin/env bash
# Prove the images work in a real containerd without touching any other one:
# imports them with import.sh into a private containerd and runs each.
#
#   smoke-test.sh            (state under $IMGTEST_DIR, default /tmp/imgtest;
#                             SMOKE_LOGS=DIR keeps the container logs there)
#
# Isolation: containerd runs in its own mount and network namespaces.
#  - mount: a fresh tmpfs on /run, because containerd 1.6 puts shim sockets
#    and runc state under /run/containerd whatever --state says;
#  - network: only a loopback interface, and containers use it (--net-host),
#    so nothing they start can reach beyond loopback.
# Everything else lives under $IMGTEST_DIR and is removed at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
T=${IMGTEST_DIR:-/tmp/imgtest}
# Absolute, so runc puts every container under one known parent per
# controller, removed at the end (runc leaves parents behind).
CGROUP_PARENT=statesafe-imgtest
sock=$T/containerd.sock
daemon_pid=""
PASSWORD='s3cr\et'"'"'"pw'  # a backslash and both quotes: the entrypoint must escape them

log() { echo "smoke: $*" >&2; }
die() { log "FAIL: $*"; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  log "installing $2 for $1"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$2" >&2
}

# ------------------------------------------------------- private containerd

write_config() {
  cat >"$T/config.toml" <<EOF
version = 2
root = "$T/root"
state = "$T/state"
# No CRI: this daemon only serves ctr, and must not look like a node.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$T/opt"
EOF
}

start_containerd() {
  [ ! -e "$T" ] || die "$T exists (another smoke test running, or left over): remove it first"
  mkdir -p "$T"
  write_config
  # shellcheck disable=SC2016  # expanded by the inner shell
  unshare --mount --propagation private --net -- /bin/sh -c '
    mount -t tmpfs -o mode=0755 imgtest-run /run && ip link set lo up &&
    exec containerd --address "$1" --root "$2/root" --state "$2/state" --config "$2/config.toml"
  ' sh "$sock" "$T" >"$T/containerd.log" 2>&1 &
  daemon_pid=$!
  local _
  for _ in $(seq 1 30); do
    ctr --address "$sock" version >/dev/null 2>&1 && { log "private containerd pid $daemon_pid"; return 0; }
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$T/containerd.log" >&2; die "containerd exited"; }
    sleep 1
  done
  die "containerd did not come up"
}

# Every process in the private mount namespace was started by this script
# (the daemon and its shims): stop exactly those, by pid.
# shellcheck disable=SC2317  # stop_containerd and cleanup run from the EXIT trap
stop_containerd() {
  [ -n "$daemon_pid" ] || return 0
  local ns pid pids=()
  ns=$(readlink "/proc/$daemon_pid/ns/mnt" 2>/dev/null) || ns=""
  if [ -n "$ns" ]; then
    for pid in /proc/[0-9]*; do
      pid=${pid#/proc/}
      [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$ns" ] && pids+=("$pid")
    done
  fi
  [ "${#pids[@]}" -eq 0 ] || kill "${pids[@]}" 2>/dev/null || true
  wait "$daemon_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null; do sleep 0.2; done
  done
  daemon_pid=""
}

# shellcheck disable=SC2317
remove_cgroups() {
  local dir
  for dir in "/sys/fs/cgroup/$CGROUP_PARENT" /sys/fs/cgroup/*/"$CGROUP_PARENT"; do
    if [ -d "$dir" ]; then rmdir "$dir" 2>/dev/null || true; fi
  done
}

# shellcheck disable=SC2317
cleanup() {
  local rc=$? f
  stop_containerd
  remove_cgroups
  for f in "$T"/imgtest-*.log; do
    [ -f "$f" ] || continue
    [ "$rc" -eq 0 ] || { echo "--- $f" >&2; tail -n 30 "$f" >&2; }
    [ -z "${SMOKE_LOGS:-}" ] || { mkdir -p "$SMOKE_LOGS"; cp "$f" "$SMOKE_LOGS/"; }
  done
  if [ -d "$T" ]; then
    # Mounts (overlay rootfs, /run tmpfs) lived in the private namespace and
    # went with it; --one-file-system guards against any that did not.
    rm -rf --one-file-system "$T"
  fi
  [ "$rc" -eq 0 ] && log "all images passed; private containerd stopped, $T removed"
  return "$rc"
}

# In the daemon's namespaces: ctr run/exec create FIFOs under /run/containerd
# that the shim must see.
# stdin from /dev/null: ctr would otherwise forward the caller's stdin.
c() { nsenter --target "$daemon_pid" --mount --net -- ctr --address "$sock" -n k8s.io "$@" </dev/null; }

run_detached() {  # run_detached ID IMAGE [ctr run flags...]
  local id=$1 image=$2; shift 2
  c run -d --net-host --cgroup "/$CGROUP_PARENT/$id" --log-uri "file://$T/$id.log" "$@" "$image" "$id" >/dev/null
}

stop_task() {  # stop_task ID: SIGTERM, as kubelet would, then remove
  local id=$1 _
  c task kill -s SIGTERM "$id" 2>/dev/null || true
  for _ in $(seq 1 60); do
    c task ls | awk -v id="$id" '$1 == id { print $3 }' | grep -q RUNNING || break
    sleep 1
  done
  c task delete --force "$id" >/dev/null 2>&1 || true
  c container delete "$id" >/dev/null 2>&1 || true
}

# retry SECONDS CMD...: until CMD succeeds.
retry() {
  local limit=$1 _; shift
  for _ in $(seq 1 "$limit"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 1
  done
  return 1
}

# ------------------------------------------------------------------- checks

check_pause() {
  local ref=$1
  run_detached imgtest-pause "$ref"
  c task ls | grep -q 'imgtest-pause.*RUNNING' || die "pause is not running"
  local start=$SECONDS
  stop_task imgtest-pause
  log "pause: runs catatonit -P, stops on SIGTERM in $((SECONDS - start))s"
}

check_toolbox() {
  local ref=$1 out
  run_detached imgtest-toolbox "$ref"  # default Cmd: sleep infinity
  c task ls | grep -q 'imgtest-toolbox.*RUNNING' || die "toolbox default cmd not running"
  out=$(c task exec --exec-id v imgtest-toolbox tar --version | head -n1)
  log "toolbox: $out"
  out=$(c task exec --exec-id s imgtest-toolbox sh -c 'printf abc | sha256sum')
  [ "${out%% *}" = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad ] \
    || die "toolbox sha256sum gave '$out'"
  c task exec --exec-id p imgtest-toolbox python3 -c 'import hashlib, json, os, shutil, tarfile, gzip; print(json.dumps(sorted(os.listdir("/"))))' >/dev/null \
    || die "toolbox python3 failed"
  c task exec --exec-id t imgtest-toolbox bash -c \
    'cd /tmp && mkdir d && echo x >d/f && tar czf d.tgz d && gzip -t d.tgz && find d -type f | grep -qx d/f' \
    || die "toolbox tar/find/gzip failed"
  stop_task imgtest-toolbox
  log "toolbox: tar, sha256sum, python3, bash, find, gzip OK"
}

mariadb_query() {  # mariadb_query EXEC-ID SQL: over TCP, as a client pod would
  c task exec --exec-id "$1" imgtest-mariadb \
    mariadb -uroot "-p$PASSWORD" -h127.0.0.1 -P3306 -N -B -e "$2"
}

check_mariadb() {
  local ref=$1 data=$T/data/mysql out
  mkdir -p "$data"  # empty, root-owned: like a fresh PVC

  # Without a password an empty datadir must be refused, loudly.
  if out=$(c run --rm --net-host --cgroup "/$CGROUP_PARENT/nopw" \
      --mount "type=bind,src=$data,dst=/var/lib/mysql,options=rbind:rw" \
      "$ref" imgtest-mariadb-nopw 2>&1); then
    die "mariadb started without MARIADB_ROOT_PASSWORD"
  fi
  grep -q 'MARIADB_ROOT_PASSWORD is not set' <<<"$out" || die "unclear error: $out"
  c container delete imgtest-mariadb-nopw >/dev/null 2>&1 || true

  local start=$SECONDS
  run_detached imgtest-mariadb "$ref" --env "MARIADB_ROOT_PASSWORD=$PASSWORD" \
    --env MARIADB_DATABASE=statesafe \
    --mount "type=bind,src=$data,dst=/var/lib/mysql,options=rbind:rw"
  retry 120 mariadb_query ping 'select 1' || { cat "$T/imgtest-mariadb.log" >&2; die "mariadb never answered"; }
  log "mariadb: first start (initialisation) answered after $((SECONDS - start))s"
  out=$(mariadb_query q1 'select version()')
  log "mariadb: select version() -> $out"
  mariadb_query q2 'create table statesafe.t (id int primary key); insert into statesafe.t values (42)'
  # root over the socket without a password (unix_socket kept for kubectl exec)
  c task exec --exec-id q3 imgtest-mariadb mariadb -N -B -e 'select current_user()' >/dev/null \
    || die "socket login as root failed"
  [ "$(stat -c %u "$data/mysql")" != 0 ] || die "datadir not handed to the mysql user"
  stop_task imgtest-mariadb
  grep -q 'Shutdown complete' "$T/imgtest-mariadb.log" || die "mariadb did not shut down cleanly on SIGTERM"
  mv "$T/imgtest-mariadb.log" "$T/imgtest-mariadb.first.log"

  # Restart on the now-initialised datadir: no re-init, same password, data kept.
  run_detached imgtest-mariadb "$ref" --env "MARIADB_ROOT_PASSWORD=ignored-now" \
    --mount "type=bind,src=$data,dst=/var/lib/mysql,options=rbind:rw"
  retry 60 mariadb_query ping2 'select 1' || { cat "$T/imgtest-mariadb.log" >&2; die "mariadb restart failed"; }
  out=$(mariadb_query q4 'select id from statesafe.t')
  [ "$out" = 42 ] || die "data lost across restart: '$out'"
  ! grep -q 'initialising' "$T/imgtest-mariadb.log" || die "datadir initialised again on restart"
  stop_task imgtest-mariadb
  log "mariadb: password over TCP, MARIADB_DATABASE, clean SIGTERM shutdown, restart with data OK"
}

zk_4lw() {  # zk_4lw EXEC-ID WORD
  c task exec --exec-id "$1" imgtest-zookeeper sh -c "echo $2 | nc -N 127.0.0.1 2181"
}

check_zookeeper() {
  local ref=$1 data=$T/data/zookeeper out start=$SECONDS
  mkdir -p "$data"
  run_detached imgtest-zookeeper "$ref" \
    --mount "type=bind,src=$data,dst=/var/lib/zookeeper,options=rbind:rw"
  retry 90 zk_4lw r0 ruok || { cat "$T/imgtest-zookeeper.log" >&2; die "zookeeper never answered"; }
  out=$(zk_4lw r1 ruok)
  [ "$out" = imok ] || die "ruok answered '$out'"
  log "zookeeper: ruok -> $out after $((SECONDS - start))s"
  out=$(zk_4lw r2 srvr | head -n1)
  log "zookeeper: srvr -> $out"
  c task exec --exec-id w imgtest-zookeeper zkCli create /statesafe hello >/dev/null 2>&1
  stop_task imgtest-zookeeper
  [ -d "$data/version-2" ] || die "no version-2/ in the mounted dataDir"

  run_detached imgtest-zookeeper "$ref" \
    --mount "type=bind,src=$data,dst=/var/lib/zookeeper,options=rbind:rw"
  retry 90 zk_4lw r3 ruok || die "zookeeper restart failed"
  out=$(c task exec --exec-id g imgtest-zookeeper zkCli get /statesafe 2>/dev/null | tail -n1)
  [ "$out" = hello ] || die "znode lost across restart: '$out'"
  out=$(c task exec --exec-id l imgtest-zookeeper zkCli.sh ls / 2>/dev/null | tail -n1)
  log "zookeeper: zkCli.sh ls / -> $out"
  stop_task imgtest-zookeeper
  log "zookeeper: ruok/srvr, zkCli create/get, znode kept across restart OK"
}

# --------------------------------------------------------------------- main

main() {
  [ "$(id -u)" = 0 ] || die "must run as root"
  need containerd containerd
  need runc runc
  need ip iproute2
  need nsenter util-linux
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  start_containerd

  local ref state built line
  local start=$SECONDS
  "$here/build.sh" >/dev/null
  log "build (cached unless inputs changed) took $((SECONDS - start))s"
  start=$SECONDS
  "$here/import.sh" "$sock" >&2
  log "first import took $((SECONDS - start))s"
  start=$SECONDS
  state=$("$here/import.sh" "$sock")
  ! grep -q '^imported' <<<"$state" || die "second import re-imported: $state"
  log "second import skipped every image in $((SECONDS - start))s"
  c images ls >&2

  mapfile -t built < <("$here/build.sh")
  for line in "${built[@]}"; do
    read -r ref _ <<<"$line"
    case $ref in
      */pause:*) check_pause "$ref" ;;
      */toolbox:*) check_toolbox "$ref" ;;
      */mariadb:*) check_mariadb "$ref" ;;
      */zookeeper:*) check_zookeeper "$ref" ;;
      *) die "no check for $ref" ;;
    esac
  done
}

main "$@"; exit
