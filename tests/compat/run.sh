#!/usr/bin/env bash
# Unit tests and ansible-test sanity with each ansible-core of tests/compat/versions.txt (the
# project virtualenv's 2.19 is tested by `make unit sanity`). Each version gets its own cached
# virtualenv (tests/compat/venv.sh). ansible-lint checks the content, not the core it runs on: it
# runs once, with 2.19, in `make sanity`.
#
# Of ansible-test sanity, an older core runs only the tests whose verdict depends on the core: that
# the plugins compile, import and document themselves as that core expects, and that
# meta/runtime.yml reads. The style and lint tests (pylint, pep8, yamllint, shebang, ...) read our
# files the same way whatever core runs them and already run in `make sanity`; repeating them
# per version cost about two minutes of CI for no new verdict.
#
# Usage: tests/compat/run.sh [VERSION...]   (default: every version of versions.txt)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -eq 0 ]; then
  mapfile -t versions < <(grep -v '^#' "$here/versions.txt" | awk 'NF {print $1}')
  set -- "${versions[@]}"
fi
core_dependent_tests=(
  --test action-plugin-docs --test ansible-doc --test compile --test import
  --test runtime-metadata --test validate-modules
)
cd "$root"
for version in "$@"; do
  venv=$("$here/venv.sh" "$version")
  echo "== ansible-core $version: unit tests ($venv)"
  STATESAFE_STRICT=1 "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/unit
  echo "== ansible-core $version: sanity"
  PYTHON="$venv/bin/python" SANITY_SKIP_LINT=1 tests/sanity.sh "${core_dependent_tests[@]}"
done
