# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local files: compare-then-write, atomic replacement, directory scans."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import hashlib
import os
import stat
import tempfile

TEMP_PREFIX = ".statesafe-tmp-"


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


def ensure_dir(path, mode):
    """Create path (and parents) with mode; an existing directory keeps its mode."""
    if os.path.isdir(path) and not os.path.islink(path):
        return False
    os.makedirs(path, mode)
    os.chmod(path, mode)  # makedirs honours the umask
    return True


def atomic_write(path, data, mode):
    """Replace path with data in one rename: readers see the old or the new file, never a part."""
    directory = os.path.dirname(path) or "."
    fd, temp_path = tempfile.mkstemp(dir=directory, prefix=TEMP_PREFIX)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
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
