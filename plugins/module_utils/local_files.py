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


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()
