#!/usr/bin/env bash
# Print the path of a virtualenv with ansible-core VERSION (tests/compat/versions.txt), creating it
# when missing. It lives outside the work tree, keyed by the version, tests/compat/requirements.txt,
# this script and the project virtualenv's key (its collections are copied from there).
#
# Usage: tests/compat/venv.sh VERSION
#
# kubernetes.core and ansible.posix (the json callback the integration tests read) come from the
# project virtualenv's 'ansible' package: kubernetes.core 6 declares requires_ansible >=2.16.0, the
# range this collection supports, and the copy keeps every version on the same collection code.
# The script checks that the copied collections accept VERSION.
set -euo pipefail
version=${1:?usage: tests/compat/venv.sh VERSION}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${STATESAFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statesafe}
project=$("$root/tests/venv.sh")
key=$( (echo "$version $project"; cat "$here/requirements.txt" "$0") | sha256sum | cut -c1-12)
venv=$cache/compat/ansible-core-$version-$key
mkdir -p "$cache/compat"
exec 9>>"$cache/compat/venv.lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
  echo "creating virtualenv $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q "ansible-core==$version" -r "$here/requirements.txt" >&2
  site=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  from=$("$project/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
  for collection in kubernetes/core ansible/posix; do
    mkdir -p "$site/ansible_collections/$(dirname "$collection")"
    cp -a "$from/ansible_collections/$collection" "$site/ansible_collections/$collection"
    "$venv/bin/python" - "$site/ansible_collections/$collection/meta/runtime.yml" "$version" <<'PY' >&2
import sys
import yaml
from ansible.module_utils.compat.version import LooseVersion
spec = yaml.safe_load(open(sys.argv[1]))["requires_ansible"]
minimum = spec.replace(">=", "").strip()
if not spec.startswith(">=") or LooseVersion(sys.argv[2]) < LooseVersion(minimum):
    sys.exit(f"{sys.argv[1]}: requires_ansible {spec!r} does not accept ansible-core {sys.argv[2]}")
PY
  done
  touch "$venv/.complete"
fi
echo "$venv"
