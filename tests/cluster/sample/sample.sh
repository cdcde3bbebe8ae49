#!/usr/bin/env bash
# Run sample.py in the project's virtualenv against the local cluster.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=$("$here/../../venv.sh")
cluster=$here/../cluster.sh
export KUBECONFIG=${KUBECONFIG:-$("$cluster" kubeconfig)}
export KUBECTL=${KUBECTL:-$(dirname "$KUBECONFIG")/bin/kubectl}
exec "$venv/bin/python" "$here/sample.py" "$@"
