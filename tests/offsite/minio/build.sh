#!/usr/bin/env bash
# Build the MinIO server (the S3-compatible store the offsite tests start) and age
# (the encryption tool the offsite modules call) from the Go module proxy, into a
# cache outside the work tree keyed by MinIO's version. Prints the bin directory.
# A build that is already complete (stamp file present) is not redone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(grep -oP "^\s*github.com/minio/minio \K\S+" "$here/go.mod")
age_version=$(grep -oP "^\s*filippo.io/age \K\S+" "$here/go.mod")
cache=${STATESAFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statesafe}
bin=$cache/minio-$version/bin
# Keyed by content only: sha256sum would also print the paths, and a clone elsewhere would rebuild.
stamp=$bin/.complete-$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)

if [ -f "$stamp" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
cd "$here"
start=$(date +%s)
echo "building minio $version and age $age_version into $bin (cold: ~10 min on 2 cores)" >&2
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$bin/minio" github.com/minio/minio >&2
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w -X main.Version=$age_version" -o "$bin/" \
  filippo.io/age/cmd/age filippo.io/age/cmd/age-keygen >&2
rm -f "$bin"/.complete-*
touch "$stamp"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
