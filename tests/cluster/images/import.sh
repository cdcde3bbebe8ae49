#!/usr/bin/env bash
# Build (if needed) and import the test images into a containerd, namespace
# k8s.io (the one the CRI plugin and so kubelet use).
#
#   import.sh <containerd-socket> [name...]
#   import.sh <containerd-socket> --archive FILE   (an archive built elsewhere, e.g. by runner.sh)
#
# An image whose ref already points at the same config digest (image ID) is
# left alone, so calling this on every cluster start is cheap.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 1 ] || { echo "usage: $0 <containerd-socket> [name...]" >&2; exit 2; }
socket=$1; shift
[ -S "$socket" ] || { echo "import: no containerd socket at $socket" >&2; exit 1; }

ctr_k8s() { ctr --address "$socket" -n k8s.io "$@"; }

# present_config REF: config digest the ref points at now, or nothing.
present_config() {
  local target
  target=$(ctr_k8s images ls "name==$1" | awk 'NR > 1 { print $3 }')
  [ -n "$target" ] || return 0
  ctr_k8s content get "$target" 2>/dev/null | python3 -c '
import json, sys
doc = json.load(sys.stdin)
print(doc.get("config", {}).get("digest", ""))' 2>/dev/null || true
}

import_one() {
  local ref=$1 archive=$2 want have
  want=$(python3 "$here/oci.py" config-digest "$archive")
  have=$(present_config "$ref")
  if [ "$have" = "$want" ]; then
    echo "present  $ref $want"
    return 0
  fi
  # --all-platforms: the archive holds exactly one (linux/amd64) image, and
  # this skips ctr's platform matching. The ref comes from the index's
  # io.containerd.image.name annotation, so no --base-name is needed.
  ctr_k8s images import --all-platforms "$archive" >&2
  have=$(present_config "$ref")
  [ "$have" = "$want" ] || { echo "import: $ref not present after import" >&2; exit 1; }
  echo "imported $ref $want"
}

if [ "${1:-}" = --archive ]; then
  if [ $# -ne 2 ] || [ ! -f "$2" ]; then echo "import: --archive needs one existing file" >&2; exit 2; fi
  built="$(python3 "$here/oci.py" ref "$2") $2"
else
  built=$("$here/build.sh" "$@")
fi
while read -r ref archive; do
  import_one "$ref" "$archive"
done <<<"$built"
