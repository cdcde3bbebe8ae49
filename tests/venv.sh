#!/usr/bin/env bash
# Print the path of the project's virtualenv, creating it when requirements.txt
# changed. It lives outside the work tree, keyed by a hash of the requirements.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache=${STATESAFE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/statesafe}
key=$(cat "$root/requirements.txt" "$0" | sha256sum | cut -c1-12)
venv=$cache/venv-$key
# One creator at a time: concurrent callers wait here, then find it complete (without this, each
# rm -rf'd the half-made virtualenv of the other).
mkdir -p "$cache"
exec 9>>"$cache/venv.lock"
flock 9
if [ ! -f "$venv/.complete" ]; then
  echo "creating virtualenv $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --upgrade pip >&2
  "$venv/bin/pip" install -q -r "$root/requirements.txt" >&2
  touch "$venv/.complete"
fi
echo "$venv"
