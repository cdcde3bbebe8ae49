#!/usr/bin/env bash
# Build CoreDNS (main.go: only the plugins the local cluster's Corefile uses) from the Go module
# proxy into a cache outside the work tree, keyed by version. Prints the bin directory.
# A build that is already complete (stamp file present) is not redone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(grep -oP "github.com/coredns/coredns \K\S+" "$here/go.mod")
cache=${STATESAFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statesafe}
bin=$cache/coredns-$version/bin
# Keyed by content only: sha256sum would also print the paths, and a clone elsewhere would rebuild.
stamp=$bin/.complete-$(cat "$here/go.mod" "$here/go.sum" "$here/main.go" "$here/build.sh" | sha256sum | cut -c1-16)

if [ -f "$stamp" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
cd "$here"
start=$(date +%s)
echo "building coredns $version into $bin (cold: ~1-4 min on 2 cores)" >&2
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$bin/coredns" . >&2
rm -f "$bin"/.complete-*
touch "$stamp"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
