# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The POSIX sh scripts run inside the pod (or helper pod) for a volume copy.

Each is passed as `sh -c SCRIPT sh ARG...`, so paths travel as arguments and
are never spliced into shell text. They need GNU find (-printf), GNU tar and
coreutils' sha256sum (-z); the helper image has them, an application
container may not, in which case the copy fails naming the missing tool and
the claim can be copied through a helper pod instead.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.statesafe.backup.plugins.module_utils.volume.mirror import (
    FIND_FORMAT,
)

SHELL = "/bin/sh"

# Exit codes our scripts use for conditions the caller reports specifically.
RC_NO_SUCH_PATH = 3
RC_NOT_A_DIRECTORY = 4
RC_CANNOT_ENTER = 5
RC_EXTRACT_FAILED = 6
RC_VERIFY_FAILED = 7
RC_SWAP_FAILED = 8
RC_BAD_TARGET = 9

_CHECK_ROOT = r"""
root=$1
if [ ! -e "$root" ] && [ ! -L "$root" ]; then echo "no such directory: $root" >&2; exit 3; fi
if [ ! -d "$root" ]; then echo "not a directory: $root" >&2; exit 4; fi
cd -- "$root" || exit 5
"""

# lost+found at the top of the tree is the filesystem's (root-only, mode 0700): never listed, copied or
# replaced, so a non-root helper can copy a volume that has one.
LIST = _CHECK_ROOT + "exec find . -mindepth 1 -path ./lost+found -prune -o -printf '" + FIND_FORMAT + "'\n"

# Files and directories the running user cannot read (NUL-separated), checked before a copy from the
# pod so that a non-root helper fails naming all of them instead of tar failing on the first.
UNREADABLE = _CHECK_ROOT + (
    "exec find . -mindepth 1 -path ./lost+found -prune -o \\( -type f -o -type d \\)"
    " \\( ! -readable -o -type d ! -executable \\) -printf '%P\\0%U\\0%m\\0'\n"
)

# Directories (the root among them, printed with an empty name) the running user cannot empty or fill: a
# restore replaces the whole tree (RECEIVE_TAR), so each needs read and search, and write unless it is empty
# (the root always: the new tree is built inside it). Checked before anything is sent, so a non-root helper
# fails naming all of them and writes nothing.
UNWRITABLE = _CHECK_ROOT + (
    "exec find . -path ./lost+found -prune -o -type d \\( ! -readable -o ! -executable"
    " -o ! -writable \\( -path . -o ! -empty \\) \\) -printf '%P\\0%U\\0%m\\0'\n"
)

# The file list arrives on stdin as NUL-separated relative names, exactly $2
# bytes (so no stdin EOF is needed, which the v4 protocol cannot signal).
# sort -z reads the whole list before tar starts, so nothing is written to
# stdout while we are still sending: no deadlock, no buffering on our side.
SEND_TAR = _CHECK_ROOT + (
    "head -c \"$2\" | LC_ALL=C sort -z | tar -c -f - --format=gnu --numeric-owner --no-recursion"
    " --hard-dereference --null --verbatim-files-from -T -\n"
)

# Same list on stdin; '<sha256>  <name>\0' records on stdout.
SHA256 = _CHECK_ROOT + "head -c \"$2\" | LC_ALL=C sort -z | xargs -0 -r sha256sum -z --\n"

MANIFEST_NAME = ".statesafe-manifest"

# Tar stream on stdin, ending with MANIFEST_NAME (sha256sum -c format).
# Extracts into a directory inside the target (the target is often a mount
# point, which cannot be renamed), checks every file against the manifest, and
# only then swaps: old entries move aside, new entries move in, old ones go.
# Any failure before the swap leaves the target untouched; a failed swap is
# rolled back.
RECEIVE_TAR = r"""
target=$1 id=$2 same_owner=$3
case "$target" in /*) ;; *) echo "target must be an absolute path: $target" >&2; exit 9;; esac
if [ "$target" = / ]; then echo "refusing to replace /" >&2; exit 9; fi
if [ -e "$target" ] && [ ! -d "$target" ]; then echo "not a directory: $target" >&2; exit 4; fi
mkdir -p -- "$target" || exit 5
stage="$target/.statesafe-incoming-$id"
old="$target/.statesafe-old-$id"
errs="$target/.statesafe-errors-$id"
mkdir -- "$stage" || exit 5
swapping=
cleanup() {
  if [ -z "$swapping" ]; then rm -rf -- "$stage"; fi
  rm -f -- "$errs"
}
trap cleanup EXIT
if [ "$same_owner" = yes ]; then owner=--same-owner; else owner=--no-same-owner; fi
drain() {  # read what is still coming, so the sender sees our exit status instead of a full pipe
  if command -v timeout >/dev/null 2>&1; then timeout 600 cat >/dev/null; else cat >/dev/null; fi
}
if ! tar -x -f - -C "$stage" --numeric-owner "$owner" -p --no-overwrite-dir 2>"$errs"; then
  drain
  echo "extraction failed:" >&2; head -c 65536 "$errs" >&2; exit 6
fi
if ! (cd -- "$stage" && sha256sum --quiet --strict -c .statesafe-manifest) >"$errs" 2>&1; then
  echo "verification failed:" >&2; head -c 65536 "$errs" >&2; exit 7
fi
rm -f -- "$stage/.statesafe-manifest"

rollback() {
  for e in "$target"/* "$target"/.[!.]* "$target"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    case "${e##*/}" in .statesafe-incoming-$id|.statesafe-old-$id|.statesafe-errors-$id|lost+found) continue;; esac
    mv -f -- "$e" "$stage/" || true
  done
  for e in "$old"/* "$old"/.[!.]* "$old"/..?*; do
    [ -e "$e" ] || [ -L "$e" ] || continue
    mv -f -- "$e" "$target/" || true
  done
  rmdir -- "$old" 2>/dev/null
  rm -rf -- "$stage"
  echo "swap failed and was rolled back; the old data is in place" >&2
  exit 8
}
swapping=yes
mkdir -- "$old" || { swapping=; exit 8; }
for e in "$target"/* "$target"/.[!.]* "$target"/..?*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  case "${e##*/}" in .statesafe-incoming-$id|.statesafe-old-$id|.statesafe-errors-$id|lost+found) continue;; esac
  mv -f -- "$e" "$old/" || rollback
done
for e in "$stage"/* "$stage"/.[!.]* "$stage"/..?*; do
  [ -e "$e" ] || [ -L "$e" ] || continue
  mv -f -- "$e" "$target/" || rollback
done
rmdir -- "$stage"
rm -rf -- "$old"
"""


def command(script, *args):
    """argv for running script with positional args."""
    return [SHELL, "-c", script, "sh"] + [str(a) for a in args]
