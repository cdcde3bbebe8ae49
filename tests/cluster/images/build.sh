#!/usr/bin/env bash
# Build the test cluster's container images from Debian packages and print
# one line per image: "<ref> <path-to-oci-archive>".
#
#   build.sh [name...]      (default: every directory here with a recipe)
#
# No registry is reachable from the test machines, so every image is a
# debootstrapped bookworm base plus apt packages, packed by oci.py. Results
# are cached outside the work tree, keyed by what went into them:
#   $cache/base/<suite>-<key>.tar.gz   key = base/recipe + base/setup.sh
#   $cache/<name>/<tag>-<key>.oci.tar  key = base key + this script + oci.py
#                                            + everything in <name>/
# Work happens in $cache/tmp and is renamed into place only when complete, so
# an interrupted build leaves nothing that looks finished.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${STATESAFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statesafe}/images
tmp_root=$cache/tmp
chroot_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
work=""  # the build directory to tear down on exit, if any

log() { echo "images: $*" >&2; }
die() { log "error: $*"; exit 1; }

# ----------------------------------------------------------------- helpers

# short_hash FILE|DIR...: content hash over names and bytes, stable across
# checkouts (relative names, sorted).
short_hash() {
  local p
  for p in "$@"; do
    if [ -d "$p" ]; then
      (cd "$p" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
    else
      (cd "$(dirname "$p")" && sha256sum "$(basename "$p")")
    fi
  done | sha256sum | cut -c1-16
}

# need COMMAND PACKAGE: install the Debian package providing a missing tool.
need() {
  command -v "$1" >/dev/null 2>&1 && return 0
  log "$1 not found; installing Debian package $2"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "$2" >&2 \
    || die "could not install $2 (it provides $1): run 'apt-get update && apt-get install $2'"
  command -v "$1" >/dev/null 2>&1 || die "$2 installed but $1 still not on PATH"
}

check_host() {
  [ "$(id -u)" = 0 ] || die "must run as root (debootstrap, chroot and mount need it)"
  command -v apt-get >/dev/null || die "needs a Debian-like host with apt-get"
  need debootstrap debootstrap
  need chroot coreutils
  need mount mount
  need flock util-linux
  need python3 python3
  need dpkg-deb dpkg
}

# run_logged LOG CMD...: keep build noise in a file, show its tail on failure.
run_logged() {
  local logfile=$1; shift
  if ! "$@" >"$logfile" 2>&1; then
    tail -n 40 "$logfile" >&2
    # The work dir is removed on exit; keep the log where it can be read.
    cp "$logfile" "$cache/last-failure.log"
    die "failed: $* (full log: $cache/last-failure.log)"
  fi
}

# unmount_under DIR: unmount everything mounted at or below DIR, deepest
# first. Needed before any rm -rf of a chroot: a leftover /proc (or a /dev
# bind mount from a killed debootstrap) must never be recursed into.
unmount_under() {
  local dir mnt
  dir=$(realpath -m "$1")
  awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts \
    | LC_ALL=C sort -r | while read -r mnt; do
        umount "$mnt" 2>/dev/null || umount -l "$mnt"
      done
}

remove_tree() {
  [ -e "$1" ] || return 0
  unmount_under "$1"
  # --one-file-system: belt and braces should a mount have survived.
  rm -rf --one-file-system "$1"
}

cleanup() {
  if [ -n "$work" ]; then
    remove_tree "$work"
    work=""
  fi
}

new_workdir() {
  mkdir -p "$tmp_root"
  work=$(mktemp -d "$tmp_root/$1.XXXXXX")
}

# in_chroot ROOT CMD...: run with /proc mounted (maintainer scripts need it)
# and the host's DNS config, both undone whatever the outcome.
in_chroot() {
  local root=$1 rc=0; shift
  cat /etc/resolv.conf >"$root/etc/resolv.conf"
  mount -t proc proc "$root/proc"
  chroot "$root" /usr/bin/env -i PATH="$chroot_path" HOME=/root LC_ALL=C \
    DEBIAN_FRONTEND=noninteractive "$@" || rc=$?
  umount "$root/proc"
  : >"$root/etc/resolv.conf"
  return "$rc"
}

# Drop what apt and the build leave behind; none of it is needed at run time.
clean_rootfs() {
  local root=$1
  in_chroot "$root" apt-get clean
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
    "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old \
    "$root"/var/log/apt "$root"/var/log/*.log "$root"/root/.cache
  find "$root/tmp" "$root/var/tmp" -mindepth 1 -delete
}

# ---------------------------------------------------------------- the base

load_base_recipe() {
  # shellcheck source=base/recipe
  . "$here/base/recipe"
  base_key=$(short_hash "$here/base/recipe" "$here/base/setup.sh")
  base_tar=$cache/base/$SUITE-$base_key.tar.gz
}

build_base() {
  [ -f "$base_tar" ] && return 0
  local start=$SECONDS rootfs
  new_workdir base
  rootfs=$work/rootfs
  log "debootstrap --variant=$VARIANT $SUITE from $MIRROR"
  run_logged "$work/debootstrap.log" \
    debootstrap --variant="$VARIANT" "$SUITE" "$rootfs" "$MIRROR"
  install -m 0755 "$here/base/setup.sh" "$rootfs/tmp/setup.sh"
  run_logged "$work/setup.log" \
    in_chroot "$rootfs" STATESAFE_SOURCES="$SOURCES" /bin/sh /tmp/setup.sh
  clean_rootfs "$rootfs"
  # --numeric-owner: ids must mean the rootfs' users, not the host's.
  tar --numeric-owner -C "$rootfs" -czf "$work/base.tar.gz" .
  mkdir -p "$cache/base"
  mv "$work/base.tar.gz" "$base_tar"
  find "$cache/base" -maxdepth 1 -name '*.tar.gz' ! -path "$base_tar" -delete
  cleanup
  log "base $SUITE-$base_key built in $((SECONDS - start))s"
}

# -------------------------------------------------------------- the images

list_images() {
  local recipe
  for recipe in "$here"/*/recipe; do
    [ "$recipe" = "$here/base/recipe" ] || basename "$(dirname "$recipe")"
  done
}

# Recipe variables (see README.md); reset so nothing leaks between images.
load_recipe() {
  TAG="" REF="" PACKAGES=() FILES=() ENTRYPOINT=() CMD=() ENV=() WORKDIR=/ USER_NAME=""
  PORTS=() KEEP=() STUBS=()
  # shellcheck source=/dev/null
  . "$here/$1/recipe"
  [[ $TAG =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || die "$1: bad TAG '$TAG'"
  [ "$TAG" != latest ] || die "$1: ':latest' makes kubelet try to pull; pick a real tag"
  # REF: a full reference, for an image that stands in for a public one under its own name.
  ref=${REF:-localhost/$1:$TAG}
  [[ $ref == *":$TAG" ]] || die "$1: REF '$REF' must end with :$TAG"
  key=$(short_hash "$here/base/recipe" "$here/base/setup.sh" "$here/build.sh" \
    "$here/oci.py" "$here/$1")
  archive=$cache/$1/$TAG-$key.oci.tar
}

# install_stubs ROOTFS: a local package that Provides the STUBS names, so apt
# treats those dependencies as met (the equivs approach). Must be installed
# before PACKAGES: given a choice, apt would pick the real package.
install_stubs() {
  local rootfs=$1 pkg=$work/stubs provides
  [ "${#STUBS[@]}" -gt 0 ] || return 0
  provides=$(IFS=,; echo "${STUBS[*]}")
  mkdir -p "$pkg/DEBIAN"
  cat >"$pkg/DEBIAN/control" <<CONTROL
Package: statesafe-stubs
Version: 1.0
Architecture: all
Maintainer: statesafe test images <root@localhost>
Provides: ${provides//,/, }
Description: stands in for dependencies this image leaves out on purpose
 See tests/cluster/images/README.md.
CONTROL
  dpkg-deb --root-owner-group --build "$pkg" "$rootfs/tmp/statesafe-stubs.deb" >/dev/null
  run_logged "$work/stubs.log" in_chroot "$rootfs" dpkg -i /tmp/statesafe-stubs.deb
  rm "$rootfs/tmp/statesafe-stubs.deb"
}

install_packages() {
  local rootfs=$1 name=$2
  [ "${#PACKAGES[@]}" -gt 0 ] || return 0
  run_logged "$work/apt.log" in_chroot "$rootfs" /bin/sh -c \
    'apt-get update -qq && apt-get install -y -qq -o Dpkg::Use-Pty=0 --no-install-recommends "$@"' \
    sh "${PACKAGES[@]}"
  log "$name: installed ${PACKAGES[*]}"
}

install_files() {
  local rootfs=$1 name=$2 entry src dest mode
  for entry in "${FILES[@]}"; do
    read -r src dest mode <<<"$entry"
    install -D -m "${mode:-0644}" -o 0 -g 0 "$here/$name/$src" "$rootfs$dest"
  done
  if [ -f "$here/$name/setup.sh" ]; then
    install -m 0755 "$here/$name/setup.sh" "$rootfs/tmp/setup.sh"
    run_logged "$work/setup.log" in_chroot "$rootfs" /bin/sh /tmp/setup.sh
  fi
}

# slim_rootfs ROOTFS DEST: a rootfs holding only the KEEP paths. Meant for
# statically linked programs; nothing resolves shared libraries here.
slim_rootfs() {
  local rootfs=$1 dest=$2 path
  mkdir -p "$dest"/{dev,proc,sys,etc,tmp}
  chmod 1777 "$dest/tmp"
  for path in "${KEEP[@]}"; do
    [ -e "$rootfs$path" ] || die "KEEP path $path not in the rootfs"
    (cd "$rootfs" && cp -a --parents ".$path" "$dest/")
  done
}

pack_image() {
  local rootfs=$1 name=$2 item
  local -a args=(--rootfs "$rootfs" --ref "$ref" --out "$work/image.oci.tar"
    --workdir="$WORKDIR" --user="$USER_NAME"
    --label=org.opencontainers.image.title="$name"
    --label=org.opencontainers.image.version="$TAG"
    --label=statesafe.image.recipe="$key"
    --arch="$(dpkg --print-architecture)")
  for item in "${ENTRYPOINT[@]}"; do args+=(--entrypoint="$item"); done
  for item in "${CMD[@]}"; do args+=(--cmd="$item"); done
  [[ " ${ENV[*]} " == *" PATH="* ]] || args+=(--env="PATH=$chroot_path")
  for item in "${ENV[@]}"; do args+=(--env="$item"); done
  for item in "${PORTS[@]}"; do args+=(--port="$item"); done
  python3 "$here/oci.py" build "${args[@]}" >"$work/oci.json"
}

build_image() {
  local name=$1 start=$SECONDS rootfs
  load_recipe "$name"
  if [ -f "$archive" ]; then
    echo "$ref $archive"
    return 0
  fi
  new_workdir "$name"
  rootfs=$work/rootfs
  mkdir "$rootfs"
  tar --numeric-owner -xpzf "$base_tar" -C "$rootfs"
  install_stubs "$rootfs"
  install_packages "$rootfs" "$name"
  install_files "$rootfs" "$name"
  clean_rootfs "$rootfs"
  if [ "${#KEEP[@]}" -gt 0 ]; then
    slim_rootfs "$rootfs" "$work/slim"
    rootfs=$work/slim
  fi
  pack_image "$rootfs" "$name"
  mkdir -p "$cache/$name"
  mv "$work/image.oci.tar" "$archive"
  find "$cache/$name" -maxdepth 1 -name '*.oci.tar' ! -path "$archive" -delete
  cleanup
  log "$ref built in $((SECONDS - start))s ($(du -h "$archive" | cut -f1))"
  echo "$ref $archive"
}

# ------------------------------------------------------------------- main

# all_cached NAME...: print every image's line if all are built already.
# Needs neither root nor the lock: finished archives only ever appear by
# rename, so this is what repeated calls from the cluster scripts hit.
all_cached() {
  local name lines=()
  for name in "$@"; do
    load_recipe "$name"
    [ -f "$archive" ] || return 1
    lines+=("$ref $archive")
  done
  printf '%s\n' "${lines[@]}"
}

main() {
  local name names=("$@")
  [ "${#names[@]}" -gt 0 ] || mapfile -t names < <(list_images)
  for name in "${names[@]}"; do
    if [ "$name" = base ] || [ ! -f "$here/$name/recipe" ]; then
      die "no image '$name' (have: $(list_images | tr '\n' ' '))"
    fi
  done
  load_base_recipe
  all_cached "${names[@]}" && return 0

  check_host
  mkdir -p "$cache"
  # One build at a time per cache: the cluster scripts and a developer may
  # both call this.
  exec 9>"$cache/.lock"
  flock -n 9 || { log "waiting for another build to finish"; flock 9; }
  trap cleanup EXIT
  trap 'exit 130' INT TERM
  # Anything left here is from a build that was killed outright.
  for name in "$tmp_root"/*; do remove_tree "$name"; done

  build_base
  for name in "${names[@]}"; do
    build_image "$name"
  done
}

main "$@"; exit  # one line: edits to this file cannot affect a running build
