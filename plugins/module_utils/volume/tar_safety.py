# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What may be extracted: names, link targets and member types, checked before any write.

Refused, on both sides of a copy: absolute names, '..' components, links whose
target leaves the tree, hard links, device files, FIFOs and anything else that
is not a file, directory or symlink, and any member that would be written
through a symlink an earlier member (or the target tree) planted.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import posixpath
import stat

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    UnsafeArchive,
)

RESERVED_PREFIX = ".statesafe-"


def check_relpath(name):
    """The normalised relative path for name, or UnsafeArchive."""
    if not name or "\x00" in name:
        raise UnsafeArchive("empty or NUL-containing member name", path=repr(name))
    if name.startswith("/"):
        raise UnsafeArchive("absolute member name refused", path=name)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts:
        raise UnsafeArchive("member name names the target root itself", path=name)
    if ".." in parts:
        raise UnsafeArchive("member name with '..' refused", path=name)
    return "/".join(parts)


def check_link_target(name, target):
    """Refuse a symlink whose target is absolute or resolves outside the tree."""
    if not target:
        raise UnsafeArchive("symlink with an empty target", path=name)
    if target.startswith("/"):
        raise UnsafeArchive("symlink to absolute path {0!r} refused".format(target), path=name)
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise UnsafeArchive("symlink to {0!r} leaves the target tree".format(target), path=name)
    return target


def parents(relpath):
    """'a/b/c' -> ['a', 'a/b']."""
    parts = relpath.split("/")
    return ["/".join(parts[:i]) for i in range(1, len(parts))]


class MemberChecker(object):
    """Stateful check over an archive's members, in archive order.

    Remembers the symlinks seen so far: a later member below one of them
    would be written through the link, wherever it points.
    """

    def __init__(self, allowed_types=("file", "dir", "symlink")):
        self.allowed_types = allowed_types
        self._links = set()
        self._seen = set()

    def check(self, member):
        """(relpath, type) for a TarInfo, or UnsafeArchive."""
        relpath = check_relpath(member.name)
        if member.isreg():
            kind = "file"
        elif member.isdir():
            kind = "dir"
        elif member.issym():
            kind = "symlink"
        elif member.islnk():
            raise UnsafeArchive("hard link refused", path=relpath)
        elif member.ischr() or member.isblk():
            raise UnsafeArchive("device file refused", path=relpath)
        elif member.isfifo():
            raise UnsafeArchive("FIFO refused", path=relpath)
        else:
            raise UnsafeArchive("member type {0!r} refused".format(member.type), path=relpath)
        if kind not in self.allowed_types:
            raise UnsafeArchive("unexpected {0} in the stream".format(kind), path=relpath)
        for parent in parents(relpath):
            if parent in self._links:
                raise UnsafeArchive("member below symlink {0} refused".format(parent), path=relpath)
        if relpath in self._links:
            raise UnsafeArchive("member replaces a symlink from the same archive", path=relpath)
        if kind == "symlink":
            check_link_target(relpath, member.linkname)
            if relpath in self._seen:
                raise UnsafeArchive("symlink replaces an earlier member", path=relpath)
            self._links.add(relpath)
        self._seen.add(relpath)
        return relpath, kind


def check_real_parents(root, relpath, verified=None):
    """Every parent of root/relpath is a real directory, not a symlink.

    `verified` caches directories already checked during one run.
    """
    for parent in parents(relpath):
        if verified is not None and parent in verified:
            continue
        path = os.path.join(root, parent)
        try:
            st = os.lstat(path)
        except OSError as exc:
            raise UnsafeArchive("parent directory missing", path=path) from exc
        if not stat.S_ISDIR(st.st_mode):
            raise UnsafeArchive("parent is not a real directory (symlink or file)", path=path)
        if verified is not None:
            verified.add(parent)


def is_safe_member(member):
    """Convenience predicate for tests and filters."""
    try:
        MemberChecker().check(member)
    except UnsafeArchive:
        return False
    return True
