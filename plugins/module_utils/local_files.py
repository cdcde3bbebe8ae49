# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local files: compare-then-write, atomic replacement, checksums, directory scans.

Shared by every package of module_utils (like errors.py it imports nothing of
the collection), so a file is written or hashed one way everywhere. PRIVATE to
the statesafe.backup collection; do not import it from elsewhere.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import stat
import tempfile

TEMP_PREFIX = ".statesafe-tmp-"
CHUNK = 1 << 20


def read_bytes(path):
    """Content of a regular file, or None when there is none (missing, dir, link)."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None
        raise
    if not stat.S_ISREG(st.st_mode):
        return None
    with open(path, "rb") as handle:
        return handle.read()


def read_state(path):
    """(content, mode) of a regular file with one lstat; (None, None) when absent, None content otherwise."""
    try:
        st = os.lstat(path)
    except OSError as exc:
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return None, None
        raise
    mode = stat.S_IMODE(st.st_mode)
    if not stat.S_ISREG(st.st_mode):
        return None, mode
    with open(path, "rb") as handle:
        return handle.read(), mode


def fsync_dir(path):
    """Make the directory's entries (the renames into it) durable."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_mode(path):
    try:
        return stat.S_IMODE(os.lstat(path).st_mode)
    except OSError:
        return None


NOT_A_DIRECTORY = "not a directory"
NOT_EMPTY = "not empty"


def fresh_directory_problem(path):
    """Why path cannot become a new tree (NOT_A_DIRECTORY, NOT_EMPTY), or None: it is absent or an empty directory.

    A link counts as not a directory: the tree is renamed into place, and a
    rename replaces the link, not the directory it points to.
    """
    if not os.path.lexists(path):
        return None
    if os.path.islink(path) or not os.path.isdir(path):
        return NOT_A_DIRECTORY
    if os.listdir(path):
        return NOT_EMPTY
    return None


def ensure_dir(path, mode):
    """Create path (and parents) with mode; an existing directory keeps its mode."""
    if os.path.isdir(path) and not os.path.islink(path):
        return False
    os.makedirs(path, mode)
    os.chmod(path, mode)  # makedirs honours the umask
    return True


def atomic_write(path, data, mode, fsync=False):
    """Replace path with data in one rename: readers see the old or the new file, never a part.

    fsync: the data reaches the disk before the rename, for a file that must
    survive a crash whole (a metrics file read by another program).
    """
    directory = os.path.dirname(path) or "."
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        if fsync:
            os.fsync(fd)
        os.close(fd)
        fd = None
        os.replace(temp_path, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        if os.path.lexists(temp_path):
            os.unlink(temp_path)
        raise


def create_file(path, data, mode):
    """Write a new file (refusing to replace anything) with mode; removed again if writing fails.

    For files in a directory nobody sees yet: one directory operation instead of
    atomic_write's two (temporary file, rename).
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    except BaseException:
        os.close(fd)
        os.unlink(path)
        raise
    os.close(fd)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def stream_sha256(handle, chunk=CHUNK):
    """(size, sha256 hex) of what is left to read in a binary file object, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    for data in iter(lambda: handle.read(chunk), b""):
        digest.update(data)
        size += len(data)
    return size, digest.hexdigest()


def file_sha256(path, chunk=CHUNK):
    """(size, sha256 hex) of the file at path, read in chunks."""
    with open(path, "rb") as handle:
        return stream_sha256(handle, chunk)
