#!/usr/bin/env bash
# ansible-test sanity and ansible-lint for statesafe.backup.
#
# ansible-test only runs from <root>/ansible_collections/<namespace>/<name>, so
# this copies the collection's files (what galaxy.yml would build: tests/cluster,
# .ci and bench are excluded, they are not part of the collection) into a
# temporary tree, with kubernetes.core from the installed 'ansible' package
# beside it, and runs the sanity tests there with Python 3.11.
#
# Usage: tests/sanity.sh [extra ansible-test sanity arguments]
# Environment: PYTHON (default: the project virtualenv from tests/venv.sh, else
#              python3 on PATH; it needs ansible and ansible-lint),
#              SANITY_SKIP_LINT=1 to skip ansible-lint.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -z "${PYTHON:-}" ] && [ -x "$repo/tests/venv.sh" ]; then
  PYTHON="$("$repo/tests/venv.sh")/bin/python"
fi
python=${PYTHON:-python3}
bindir=$(dirname "$(command -v "$python")")
work=$(mktemp -d "${TMPDIR:-/tmp}/statesafe-sanity.XXXXXX")
trap 'rm -rf "$work"' EXIT

dest="$work/ansible_collections/statesafe/backup"
mkdir -p "$dest"
# Tracked and new (not ignored) files only, minus what the collection does not ship.
existing_files() {
  local f
  while IFS= read -r -d '' f; do
    case "$f" in tests/cluster/* | .ci/* | bench/*) continue ;; esac
    if [ -e "$f" ]; then printf '%s\0' "$f"; fi
  done
}
cd "$repo"
git ls-files -z --cached --others --exclude-standard | existing_files | tar --null -T - -cf - | tar -xf - -C "$dest"

core=$("$python" -c 'import ansible_collections.kubernetes.core as c, os; print(os.path.dirname(c.__file__))' 2>/dev/null \
       || "$python" -c 'import ansible_collections, os; print(os.path.join(list(ansible_collections.__path__)[0], "kubernetes", "core"))')
mkdir -p "$work/ansible_collections/kubernetes"
cp -a "$core" "$work/ansible_collections/kubernetes/core"

# ansible-test bootstraps pip into each sanity virtualenv with a get-pip.py it
# downloads from a host outside the package registries, which is unreachable
# here. Put a stand-in in its cache: pip from the standard library's
# ensurepip, then the same pinned packages from PyPI.
pip_version=$("$python" -c 'from ansible_test._internal.python_requirements import get_venv_packages
class P: version = "3.11"
print(get_venv_packages(P())["pip"])')
get_pip="$HOME/.ansible/test/cache/get_pip_${pip_version//./_}.py"
if [ ! -s "$get_pip" ]; then
  mkdir -p "$(dirname "$get_pip")"
  cat > "$get_pip" <<'PY'
"""Stand-in for get-pip.py (statesafe tests/sanity.sh): ensurepip, then pip install the arguments."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ("--no-setuptools", "--no-wheel")]
subprocess.check_call([sys.executable, "-m", "ensurepip", "--default-pip"], stdout=subprocess.DEVNULL)
subprocess.check_call([sys.executable, "-m", "pip", "install"] + args)
PY
fi

cd "$dest"
# ansible-test wants a git work tree or none at all; give it a clean one so its
# file list is exactly what was copied.
git init -q . && git add -A . && git -c user.email=sanity@localhost -c user.name=sanity commit -qm sanity

# Every sanity test runs except those that need a network service or a
# container runtime: none of ours do, so the skip list is empty unless a test
# cannot run at all on this machine (pslint needs PowerShell; there are no
# PowerShell files, and ansible-test skips it by itself).
PATH="$bindir:$PATH" "$bindir/ansible-test" sanity --python 3.11 --color no --requirements "$@"

if [ "${SANITY_SKIP_LINT:-}" != 1 ]; then
  PATH="$bindir:$PATH" ANSIBLE_COLLECTIONS_PATH="$work" "$bindir/ansible-lint" --offline -q
fi
