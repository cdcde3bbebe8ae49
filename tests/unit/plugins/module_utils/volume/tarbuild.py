"""Helpers to build (hostile) tar archives in memory for the tests."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import tarfile


def member(name, kind="file", data=b"", link=None, mode=0o644, mtime=1700000000, uid=0, gid=0):
    info = tarfile.TarInfo(name)
    info.mode = mode
    info.mtime = mtime
    info.uid, info.gid = uid, gid
    types = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
             "hardlink": tarfile.LNKTYPE, "chr": tarfile.CHRTYPE, "blk": tarfile.BLKTYPE,
             "fifo": tarfile.FIFOTYPE, "cont": tarfile.CONTTYPE}
    info.type = types[kind]
    if link is not None:
        info.linkname = link
    if kind == "file":
        info.size = len(data)
    return info, data


def archive(*members):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()
