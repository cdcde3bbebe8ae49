#!/usr/bin/env bash
# `make test`: everything CI runs. The unit, sanity and compat tests need no cluster, and the cluster's
# preparation (`make prepare`: the cluster up, the offsite and etcd tools, the runner image) is mostly
# waiting on downloads, builds and daemons starting, so it runs in the background meanwhile (`-j2`:
# MinIO and age need no cluster and build beside it); its output goes to a log printed when it is
# done. The integration tests start when both are through. Each phase's start is stamped with the
# time, so a slow CI run shows where it went.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp() { echo "== $(date -u +%H:%M:%S) $*"; }
log=$(mktemp "${TMPDIR:-/tmp}/statesafe-prepare.XXXXXX")

stamp "make prepare, in the background (log: $log)"
set -m  # the background make gets its own process group, so it can be stopped with all its children
make --no-print-directory -j2 prepare </dev/null >"$log" 2>&1 &
prepare=$!
set +m
stop_prepare() { kill -TERM -- "-$prepare" 2>/dev/null || true; }
trap stop_prepare EXIT

for target in unit sanity compat; do
  stamp "make $target"
  make --no-print-directory "$target"
done

stamp "waiting for make prepare"
if ! wait "$prepare"; then
  tail -n 80 "$log"
  stamp "make prepare failed: the lines above are the end of $log"
  exit 1
fi
trap - EXIT
cat "$log"
rm -f "$log"

stamp "make integration"
make --no-print-directory integration
stamp "done"
