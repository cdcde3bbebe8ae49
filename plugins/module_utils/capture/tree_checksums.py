# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The regular files of a staging tree with their size and sha256, for the backup's MANIFEST.json.

ansible.builtin.find hashes with sha256 (checksum_algorithm) only from ansible-core 2.19 on; this
walk gives the manifest the same entries on every ansible-core the collection accepts. Like find
with file_type=file, hidden=true and follow=false, it lists regular files only, hidden ones
included, and never follows a link: a symbolic link or a special file of a copied volume stays in
the tree (bup saves it) but is not an artifact, because verify and restore check artifacts as
regular files. Unlike find, an unreadable file or directory fails the walk, naming it: a manifest
that silently left files out would make a backup look complete that is not. Exclusions are paths
from the root, not find's names at any depth: a MANIFEST.json inside a copied volume is an artifact,
which verify checks like any other file (it passes over the top-level manifest only).

Files are read in chunks (local_files.CHUNK), so memory does not grow with their size.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.statesafe.backup.plugins.module_utils import local_files
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    InvalidInput,
    UnreadableFiles,
)

MANIFEST = "MANIFEST.json"
REPORT_LIMIT = 50
_NAMED_IN_MESSAGE = 10


def normalize_exclusions(paths):
    """Relative paths without './', doubled or trailing '/'; a path that is absolute or leaves the tree is refused."""
    normalized = []
    for path in paths or ():
        clean = os.path.normpath(path) if path else ""
        if not clean or clean == "." or os.path.isabs(clean) or clean == ".." or clean.startswith("../"):
            raise InvalidInput("exclude_paths entry {0!r} is not a path inside the tree".format(path))
        normalized.append(clean)
    return frozenset(normalized)


def is_excluded(relpath, exclusions):
    """relpath is excluded, or lies below an excluded directory."""
    parts = relpath.split("/")
    return any("/".join(parts[:index]) in exclusions for index in range(1, len(parts) + 1))


def entry_type(mode):
    """What a non-regular entry is, in the words of ansible.builtin.stat."""
    if stat.S_ISLNK(mode):
        return "link"
    if stat.S_ISDIR(mode):
        return "directory"
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "other"


def unreadable_message(root, unreadable):
    """One message naming the first unreadable entries and why each could not be read."""
    named = "; ".join("{0}: {1}".format(path, reason) for path, reason in unreadable[:_NAMED_IN_MESSAGE])
    more = " and {0} more".format(len(unreadable) - _NAMED_IN_MESSAGE) if len(unreadable) > _NAMED_IN_MESSAGE else ""
    return ("{0} entries of the staging tree {1} cannot be read, so the manifest would leave them out: "
            "{2}{3}".format(len(unreadable), root, named, more))


def _walk(root, exclusions):
    """(regular files, other entries, unreadable entries) under root, as relative paths, without following links."""
    files, not_regular, unreadable = [], [], []
    pending = [""]
    while pending:
        prefix = pending.pop()
        try:
            with os.scandir(os.path.join(root, prefix) if prefix else root) as entries:
                listed = list(entries)
        except OSError as exc:
            unreadable.append((prefix or ".", exc.strerror or str(exc)))
            continue
        for entry in listed:
            relpath = prefix + "/" + entry.name if prefix else entry.name
            if is_excluded(relpath, exclusions):
                continue
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except OSError as exc:
                unreadable.append((relpath, exc.strerror or str(exc)))
                continue
            if stat.S_ISREG(mode):
                files.append(relpath)
            elif stat.S_ISDIR(mode):
                pending.append(relpath)
            else:
                not_regular.append({"path": relpath, "type": entry_type(mode)})
    return files, not_regular, unreadable


def _open_regular(path):
    """A binary reader of path; a link planted after the walk is refused rather than followed."""
    return os.fdopen(os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)), "rb")


def tree_checksums(root, exclude_paths=(MANIFEST,), chunk=local_files.CHUNK):
    """Every regular file under root as {path, size, checksum} (sha256), and the entries that are not one.

    path is root joined with the file's relative path, as ansible.builtin.find returns it, so the
    manifest_artifacts filter makes it relative again; files come sorted by relative path. exclude_paths
    are relative to root; an excluded directory excludes everything below it. Raises InvalidInput when
    root is not an absolute path to a directory, UnreadableFiles when any entry cannot be read.
    """
    if not isinstance(root, str) or not os.path.isabs(root):
        raise InvalidInput("the tree must be given as an absolute path", path=root)
    if os.path.islink(root) or not os.path.isdir(root):
        raise InvalidInput("the tree is not a directory", path=root)
    relpaths, not_regular, unreadable = _walk(root, normalize_exclusions(exclude_paths))
    files = []
    total = 0
    for relpath in sorted(relpaths):
        full = os.path.join(root, relpath)
        try:
            with _open_regular(full) as handle:
                # Once one file is unreadable the run fails anyway: the rest are only opened, to name them all.
                if unreadable:
                    continue
                size, digest = local_files.stream_sha256(handle, chunk)
        except OSError as exc:
            unreadable.append((relpath, exc.strerror or str(exc)))
            continue
        files.append({"path": os.path.normpath(full), "size": size, "checksum": digest})
        total += size
    if unreadable:
        raise UnreadableFiles(unreadable_message(root, unreadable), path=root)
    not_regular.sort(key=lambda entry: entry["path"])
    return {"root": root, "files": files, "file_count": len(files), "bytes": total,
            "not_regular_count": len(not_regular), "not_regular": not_regular[:REPORT_LIMIT]}
