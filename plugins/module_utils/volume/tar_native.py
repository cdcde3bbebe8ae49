# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Receive a tar stream of regular files: checked here, written by GNU tar (or a Python writer).

Why: creating files from Python (file_writer, a writer
thread) costs about 0.4 ms of CPU per file on top of the kernel's own work, and
on a machine whose two cores also carry the exec stream that made a first copy
of 50,000 small files three times slower than `kubectl exec tar` (docs/performance.md).
Here Python only reads each member's header, checks it and hashes the data, and
a `tar -x` process on the other core creates the files.

What tar is given is not what the pod sent: every member is re-encoded here
from the fields that passed the checks (a regular file with a name that was
asked for, at most once, with the mode we keep), so GNU tar never sees a link,
a device, a pax header or a name we did not check. The pod's archive may only
hold regular files and GNU long-name records; anything else is refused before
a byte of it is written.

When no GNU tar is installed, file_writer.FileWriter creates the same files
from a thread: both are sinks of the one reader below, so every check applies
whichever writes.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import errno
import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile

from ansible_collections.statesafe.backup.plugins.module_utils.volume import file_writer
from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.volume import tar_safety
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    StreamError,
    UnsafeArchive,
)

BLOCK = 512
ZERO_BLOCK = b"\x00" * BLOCK
READ_SIZE = 1024 * 1024
COPY_CHUNK = 1024 * 1024
FLUSH_BYTES = 1024 * 1024  # small members are handed to tar in batches of about this size
PIPE_SIZE = 1024 * 1024
LONG_NAME_LIMIT = 64 * 1024
REGULAR = (b"0", b"\x00")
GNU_LONG_NAME = b"L"
GNU_MAGIC = b"ustar  \x00"
_F_SETPIPE_SZ = 1031  # Linux fcntl; absent elsewhere, and only an optimisation

_found = {}


def gnu_tar():
    """The path of a GNU tar, or None (checked once per process)."""
    if "tar" not in _found:
        path = shutil.which("tar")
        version = b""
        if path:
            try:
                version = subprocess.run([path, "--version"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                         timeout=30, check=False).stdout
            except (OSError, subprocess.SubprocessError):
                version = b""
        _found["tar"] = path if b"GNU tar" in version else None
    return _found["tar"]


# -- headers --------------------------------------------------------------------

# A regular-file member as read from the stream; name is raw bytes.
Header = collections.namedtuple("Header", "name mode uid gid size mtime type")


class Received(object):
    """A file that arrived: where it is staged, its size, sha256 (of the bytes written), mtime and mode."""

    __slots__ = ("staged", "size", "sha256", "mtime", "mode")

    def __init__(self, staged, size, sha256, mtime, mode):
        self.staged = staged
        self.size = size
        self.sha256 = sha256
        self.mtime = mtime
        self.mode = mode


def _number(field):
    """A numeric header field: octal text, or GNU base-256 (first byte 0x80 or 0xff)."""
    if field[:1] in (b"\x80", b"\xff"):
        value = int.from_bytes(field[1:], "big")
        if field[:1] == b"\xff":
            value -= 1 << (8 * (len(field) - 1))
        return value
    try:
        return int(field.split(b"\x00", 1)[0].strip(b" ") or b"0", 8)
    except ValueError as exc:
        raise StreamError("corrupt tar header: numeric field {0!r}".format(bytes(field))) from exc


def parse_header(block):
    """Header of a 512-byte block (checksum verified); the name is raw bytes."""
    stored = _number(block[148:156])
    unsigned = sum(block) - sum(block[148:156]) + 256  # the checksum field counts as eight spaces
    if stored != unsigned:
        signed = sum(b - 256 if b > 127 else b for b in block[:148]) + 256 + \
            sum(b - 256 if b > 127 else b for b in block[156:])
        if stored != signed:
            raise StreamError("corrupt tar header (bad checksum)")
    name = block[:100].split(b"\x00", 1)[0]
    if block[257:265] == b"ustar\x0000":
        prefix = block[345:500].split(b"\x00", 1)[0]
        if prefix:
            name = prefix + b"/" + name
    return Header(name, _number(block[100:108]), _number(block[108:116]), _number(block[116:124]),
                  _number(block[124:136]), _number(block[136:148]), block[156:157])


def _field(value, width):
    """value as octal text of width bytes (NUL-terminated), or base-256 when it does not fit."""
    if 0 <= value < 8 ** (width - 1):
        return b"%0*o\x00" % (width - 1, value)
    if value < 0:
        value += 1 << (8 * (width - 1))
        return b"\xff" + value.to_bytes(width - 1, "big")
    return b"\x80" + value.to_bytes(width - 1, "big")


def _block(name, mode, uid, gid, size, mtime, type_):
    parts = [name[:100].ljust(100, b"\x00"), _field(mode, 8), _field(uid, 8), _field(gid, 8), _field(size, 12),
             _field(mtime, 12), b" " * 8, type_, b"\x00" * 100, GNU_MAGIC]
    head = b"".join(parts).ljust(BLOCK, b"\x00")
    checksum = b"%06o\x00 " % sum(head)
    return head[:148] + checksum + head[156:]


def file_header(name, mode, uid, gid, size, mtime):
    """The GNU tar header block(s) of a regular file: a long-name record first when name needs one."""
    if len(name) <= 100:
        return _block(name, mode, uid, gid, size, mtime, b"0")
    data = name + b"\x00"
    return (_block(b"././@LongLink", 0, 0, 0, len(data), 0, GNU_LONG_NAME) + data + padding(len(data)) +
            _block(name, mode, uid, gid, size, mtime, b"0"))


def padding(size):
    return b"\x00" * (-size % BLOCK)


# -- the stream ------------------------------------------------------------------

class _Input(object):
    """Exact-size reads over a stream whose read(n) may return fewer bytes."""

    def __init__(self, stream):
        self._read = stream.read
        self._buf = b""
        self._pos = 0

    def take(self, size):
        """size bytes, or fewer only at the end of the stream."""
        buf, pos = self._buf, self._pos
        if len(buf) - pos >= size:
            self._pos = pos + size
            return buf[pos:pos + size]
        parts, have = [buf[pos:]], len(buf) - pos
        while have < size:
            data = self._read(READ_SIZE)
            if not data:
                break
            parts.append(data)
            have += len(data)
        joined = b"".join(parts)
        self._buf, self._pos = joined, min(size, len(joined))
        return joined[:size]


# -- the extractor -----------------------------------------------------------------

class TarFailed(OSError):
    """GNU tar could not write what it was given (a full disk, a permission)."""


class Extractor(object):
    """A `tar -x` process fed with re-encoded members, in batches: the sink used when GNU tar is installed."""

    def __init__(self, directory, same_owner, tar=None):
        self.directory = directory
        argv = [tar or gnu_tar(), "-x", "-f", "-", "-B", "-C", directory, "-p", "--numeric-owner",
                "--warning=no-timestamp", "--same-owner" if same_owner else "--no-same-owner"]
        self._stderr = tempfile.TemporaryFile()
        self._proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=self._stderr)
        self._fd = self._proc.stdin.fileno()
        try:
            fcntl.fcntl(self._fd, _F_SETPIPE_SZ, PIPE_SIZE)
        except OSError:
            pass
        self._out = []
        self._pending = 0

    def member(self, relpath, mode, uid, gid, size, mtime):
        self.add(file_header(mirror.encode_name(relpath), mode, uid, gid, size, mtime))

    def data(self, chunk):
        self.add(chunk)

    def end_member(self, size):
        pad = padding(size)
        if pad:
            self.add(pad)

    def add(self, data):
        self._out.append(data)
        self._pending += len(data)
        if self._pending >= FLUSH_BYTES:
            self.flush()

    def flush(self):
        if not self._out:
            return
        data, self._out, self._pending = b"".join(self._out), [], 0
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view):]
        except BrokenPipeError as exc:
            self._proc.wait()
            raise self._failure() from exc

    def finish(self):
        """End the archive, wait for tar; raises TarFailed when it did not extract everything."""
        self.add(ZERO_BLOCK * 2)
        self.flush()
        self._proc.stdin.close()
        if self._proc.wait() != 0:
            raise self._failure()
        self._stderr.close()

    def abort(self):
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        self._proc.wait()
        self._stderr.close()

    def _failure(self):
        self._stderr.seek(0)
        text = self._stderr.read(64 * 1024).decode("utf-8", "replace").strip()
        # "Wrote only N of M bytes" is GNU tar's word for a write the filesystem cut short: a full disk or quota.
        full = "No space left" in text or "Wrote only" in text or "quota exceeded" in text.lower()
        return TarFailed(errno.ENOSPC if full else errno.EIO, "tar could not extract into {0} (exit {1}){2}: {3}".format(
            self.directory, self._proc.returncode, ", " + os.strerror(errno.ENOSPC) if full else "",
            text or "no message"), self.directory)


def receive(stream, expected, directory, owner=None, progress=None, tar=None):
    """Read a tar stream of the expected regular files into directory, under their own names.

    Returns {relpath: Received}, the sha256 being of the bytes handed to the
    writer. Anything but an expected regular file with a safe name, sent once,
    is UnsafeArchive; a stream that ends inside a member, or before every
    expected file arrived, is a StreamError; a file the disk refused is an
    OSError (TarFailed from GNU tar). directory must be new and empty (the
    parent directories are created in it). owner: keep the sender's numeric
    owners (root only). progress: a TarProgress-like object (start, add, done).
    tar: the GNU tar to run; by default the one found, else the Python writer.
    """
    expected = set(expected)
    source = _Input(stream)
    first = source.take(BLOCK)
    if not first:
        if not expected:
            return {}
        raise StreamError("no tar stream arrived: empty stream")
    tar = tar or gnu_tar()
    if tar:
        sink = Extractor(directory, owner is not None, tar)
    else:
        sink = file_writer.FileWriter(directory, owner is not None)
    received = {}
    try:
        _members(source, first, expected, directory, sink, received, progress)
        sink.finish()
    except BaseException:
        sink.abort()
        raise
    missing = sorted(expected - set(received))
    if missing:
        raise StreamError("tar stream ended early: {0} of {1} files missing, first {2}".format(
            len(missing), len(expected), missing[0]))
    return received


def _members(source, block, expected, directory, sink, received, progress):
    long_name = None
    while True:
        if len(block) < BLOCK:
            if block or long_name is not None:
                raise StreamError("tar stream ended early or is corrupt after {0} of {1} files: "
                                  "a header cut short".format(len(received), len(expected)))
            return  # the stream ended between members: the missing-files check decides
        if block == ZERO_BLOCK:
            return
        header = parse_header(block)
        if header.type == GNU_LONG_NAME:
            if long_name is not None or not 0 < header.size <= LONG_NAME_LIMIT:
                raise UnsafeArchive("malformed GNU long-name record", path=repr(header.name))
            data = source.take(header.size + len(padding(header.size)))
            if len(data) < header.size:
                raise StreamError("tar stream ended inside a long name")
            long_name = data[:header.size].split(b"\x00", 1)[0]
            block = source.take(BLOCK)
            continue
        raw, long_name = (long_name if long_name is not None else header.name), None
        relpath = tar_safety.check_relpath(mirror.decode_name(raw))
        if header.type not in REGULAR:
            raise UnsafeArchive("member of type {0!r} refused: only regular files were asked for".format(
                header.type.decode("latin-1")), path=relpath)
        if relpath not in expected:
            raise UnsafeArchive("member that was not asked for", path=relpath)
        if relpath in received:
            raise UnsafeArchive("member sent twice", path=relpath)
        if header.size < 0:
            raise UnsafeArchive("negative member size", path=relpath)
        if progress is not None:
            progress.start(relpath, header.size)
        mode = header.mode & mirror.FILE_MODE_MASK
        sink.member(relpath, mode, header.uid, header.gid, header.size, header.mtime)
        digest = _copy_data(source, sink, header.size, relpath, progress)
        received[relpath] = Received(os.path.join(directory, relpath), header.size, digest, header.mtime, mode)
        if progress is not None:
            progress.done()
        block = source.take(BLOCK)


def _copy_data(source, sink, size, relpath, progress):
    digest = hashlib.sha256()
    count = 0
    while count < size:
        want = min(COPY_CHUNK, size - count)
        chunk = source.take(want)
        digest.update(chunk)
        sink.data(chunk)
        count += len(chunk)
        if progress is not None:
            progress.add(len(chunk))
        if len(chunk) < want:
            raise StreamError("stream ended inside the file ({0} of {1} bytes)".format(count, size), path=relpath)
    pad = padding(size)
    if pad:
        got = source.take(len(pad))
        if len(got) < len(pad):
            raise StreamError("stream ended inside the file's padding", path=relpath)
    sink.end_member(size)
    return digest.hexdigest()
