#!/usr/bin/env bash
# Build etcd and the Kubernetes components from the Go module proxy into a cache
# outside the work tree, keyed by version. Prints the bin directory.
# A build that is already complete (stamp file present) is not redone.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=$(cat "$here/VERSION")
etcd_version=$(grep -oP "go.etcd.io/etcd/server/v3 \K\S+" "$here/go.mod")
cache=${STATESAFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statesafe}
bin=$cache/k8s-$version/bin
# Keyed by content only: sha256sum would also print the paths, and a clone elsewhere would rebuild.
stamp=$bin/.complete-$(cat "$here/go.mod" "$here/go.sum" "$here/build.sh" | sha256sum | cut -c1-16)

if [ -f "$stamp" ]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$bin"
major=${version#v}; major=${major%%.*}
minor=${version#v*.}; minor=${minor%%.*}
build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=$major -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
done

cd "$here"
start=$(date +%s)
echo "building kubernetes $version and etcd $etcd_version into $bin (cold: ~20-30 min on 2 cores)" >&2
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "$ldflags" -o "$bin/" \
  k8s.io/kubernetes/cmd/kube-apiserver \
  k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler \
  k8s.io/kubernetes/cmd/kubelet \
  k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kube-proxy >&2
CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags "-s -w" -o "$bin/etcd" go.etcd.io/etcd/server/v3 >&2
rm -f "$bin"/.complete-*
touch "$stamp"
echo "built in $(( $(date +%s) - start ))s" >&2
echo "$bin"
