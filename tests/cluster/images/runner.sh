#!/usr/bin/env bash
# The runner image with this work tree's collection in it: the image playbooks/schedule.yml's CronJob
# runs the collection's playbooks in, on the local cluster. Prints its ref on stdout.
#
#   runner.sh [--socket PATH | --no-import]
#
#   --socket PATH   containerd socket to import into (namespace k8s.io); default: the local
#                   cluster's, $STATESAFE_CLUSTER_DIR/containerd/containerd.sock
#   --no-import     only build (or find) the archive; prints "<ref> <archive>"
#
# Two layers, so that a commit does not rebuild the pip layer:
#   1. localhost/runner:<TAG>  build.sh runner (tests/cluster/images/runner/): bookworm, bup, par2,
#      ansible-core + kubernetes.core + kubernetes + boto3 in /opt/ansible; cached by build.sh.
#   2. the collection, built from the work tree with `ansible-galaxy collection build` (so galaxy.yml's
#      build_ignore applies) and installed as
#      /usr/share/ansible/collections/ansible_collections/statesafe/backup, added by
#      `oci.py build --base` as one more layer.
# The result is localhost/statesafe-runner:<hash>, where the hash covers the collection's content (its
# MANIFEST.json, which holds the sha256 of FILES.json, which holds every file's sha256) and the runner
# base's image ID; cached as $cache/images/statesafe-runner/<hash>.oci.tar (the last 3 are kept).
# Needs root when something must be built (build.sh) or imported (ctr); a cached, imported image
# costs about the time of one `ansible-galaxy collection build`.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../../.." && pwd)
cache=${STATESAFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statesafe}
state=${STATESAFE_CLUSTER_DIR:-$cache/cluster}
out_dir=$cache/images/statesafe-runner
name=localhost/statesafe-runner
keep=3

log() { echo "runner: $*" >&2; }
die() { log "error: $*"; exit 1; }

socket=$state/containerd/containerd.sock
import=1
while [ $# -gt 0 ]; do
  case $1 in
    --socket) [ $# -ge 2 ] || die "--socket needs a path"; socket=$2; shift 2 ;;
    --socket=*) socket=${1#--socket=}; shift ;;
    --no-import) import=0; shift ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
if [ "$import" = 1 ] && [ ! -S "$socket" ]; then
  die "no containerd socket at $socket: is the local cluster up? (or pass --socket, or --no-import)"
fi

start=$SECONDS
tmp=$(mktemp -d "${TMPDIR:-/tmp}/statesafe-runner.XXXXXX")
trap 'rm -rf --one-file-system "$tmp"' EXIT
trap 'exit 130' INT TERM

# 1. The base (build.sh caches it; it needs root only when it really builds).
read -r base_ref base_archive < <("$here/build.sh" runner)
[ -f "$base_archive" ] || die "build.sh runner printed no archive"
base_id=$(python3 "$here/oci.py" config-digest "$base_archive")

# 2. The collection, exactly as ansible-galaxy would publish it.
venv=$("$repo/tests/venv.sh")
"$venv/bin/ansible-galaxy" collection build --output-path "$tmp/dist" "$repo" >"$tmp/build.log" 2>&1 \
  || { cat "$tmp/build.log" >&2; die "ansible-galaxy collection build failed in $repo"; }
tarball=$(find "$tmp/dist" -name '*.tar.gz' -print -quit)
[ -n "$tarball" ] || die "ansible-galaxy collection build wrote no tarball"
tar -xzOf "$tarball" MANIFEST.json >"$tmp/MANIFEST.json"
version=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["collection_info"]["version"])' \
  "$tmp/MANIFEST.json")
tag=$( { echo "$base_id"; cat "$tmp/MANIFEST.json"; } | sha256sum | cut -c1-16)
ref=$name:$tag
archive=$out_dir/$tag.oci.tar

mkdir -p "$out_dir"
exec 9>"$out_dir/.lock"
flock 9
if [ -f "$archive" ]; then
  touch "$archive"  # the pruning below keeps the most recently used
  log "$ref cached ($base_ref + statesafe.backup $version)"
else
  # 3. One layer: the collection where ansible finds it without configuration.
  collections=$tmp/layer/usr/share/ansible/collections
  mkdir -p "$collections"
  chmod -R 0755 "$tmp/layer"
  "$venv/bin/ansible-galaxy" collection install --offline --no-deps -p "$collections" "$tarball" \
    >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; die "could not unpack $tarball"; }
  [ -f "$collections/ansible_collections/statesafe/backup/MANIFEST.json" ] \
    || die "the collection is not at $collections/ansible_collections/statesafe/backup"
  python3 "$here/oci.py" build --base "$base_archive" --rootfs "$tmp/layer" --ref "$ref" \
    --out "$archive" --chown=0:0 \
    --label=org.opencontainers.image.title=statesafe-runner \
    --label=org.opencontainers.image.version="$version" \
    --label=statesafe.runner.base="$base_ref" >"$tmp/oci.json"
  # Each archive holds the base's layers too: keep only the newest few.
  find "$out_dir" -maxdepth 1 -name '*.oci.tar' -printf '%T@ %p\n' | LC_ALL=C sort -rn \
    | tail -n +$((keep + 1)) | cut -d' ' -f2- | while read -r old; do rm -f "$old"; done
  log "$ref built in $((SECONDS - start))s ($(du -h "$archive" | cut -f1); $base_ref + statesafe.backup $version)"
fi

if [ "$import" = 1 ]; then
  "$here/import.sh" "$socket" --archive "$archive" >&2
  echo "$ref"
else
  echo "$ref $archive"
fi
