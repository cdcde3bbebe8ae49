# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Write received files from a thread of their own: the receiver used where no GNU tar is installed.

tar_native reads and checks a tar stream and hands every accepted member to a
*sink*: member(relpath, mode, uid, gid, size, mtime), data(chunk) for its bytes,
end_member(size), then finish() or abort(). With GNU tar the sink is a `tar -x`
process (tar_native.Extractor); without it, FileWriter below creates the same
files under the same names. The reader (network, frames, headers) and the disk
overlap instead of taking turns; the queue between them is bounded, so memory
does not grow with the volume.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import os
import threading

# What the reader may run ahead of the writer.
QUEUE_BYTES = 32 * 1024 * 1024
QUEUE_ITEMS = 4096
# A member at most this big is handed over whole (one queue item instead of three).
WHOLE_FILE_BYTES = 1024 * 1024
DIRECTORY_MODE = 0o700  # parents made here; the mirror's plan gives directories their modes


class WriterQueue(object):
    """Hand-over from the stream reader to the writer thread, bounded in bytes and items."""

    def __init__(self, max_bytes, max_items):
        self.max_bytes = max_bytes
        self.max_items = max_items
        self._items = collections.deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._stopped = False

    def put(self, item, size):
        """Queue item; False when the consumer stopped (the caller then asks it why)."""
        with self._cond:
            while self._items and not self._stopped and (
                    self._bytes + size > self.max_bytes or len(self._items) >= self.max_items):
                self._cond.wait()
            if self._stopped:
                return False
            self._items.append((item, size))
            self._bytes += size
            self._cond.notify()
            return True

    def get(self):
        """The next item, or None once stopped."""
        with self._cond:
            while not self._items and not self._stopped:
                self._cond.wait()
            if self._stopped:
                return None
            item, size = self._items.popleft()
            self._bytes -= size
            self._cond.notify()
            return item

    def stop(self):
        with self._cond:
            self._stopped = True
            self._items.clear()
            self._bytes = 0
            self._cond.notify_all()


_END = object()


class WriterStopped(OSError):
    """The writer thread ended without saying why (never expected; its own error is raised instead)."""


class FileWriter(object):
    """A tar_native sink that creates each member as directory/relpath, with its mode, owner and mtime.

    directory must be new: the relative paths were checked by the reader, and
    nothing but the directories made here and regular files exists below it.
    A disk error in the thread (a full disk, a permission) is raised in the
    reader at its next hand-over or at finish().
    """

    def __init__(self, directory, same_owner, max_bytes=QUEUE_BYTES, max_items=QUEUE_ITEMS):
        self.directory = directory
        self._same_owner = same_owner
        self._queue = WriterQueue(max_bytes, max_items)
        self._member = None  # (path, mode, uid, gid, mtime) of the member being received
        self._chunks = None  # its bytes, while it is small enough to go over whole
        self.error = None
        self._thread = threading.Thread(target=self._run, name="statesafe-file-writer")
        self._thread.daemon = True
        self._thread.start()

    # -- the sink, called by the reader ---------------------------------------------

    def member(self, relpath, mode, uid, gid, size, mtime):
        self._member = (os.path.join(self.directory, relpath), mode, uid, gid, mtime)
        if size <= WHOLE_FILE_BYTES:
            self._chunks = []
        else:
            self._chunks = None
            self._put(("open", self._member[0]))

    def data(self, chunk):
        if self._chunks is not None:
            self._chunks.append(chunk)
        else:
            self._put(("data", chunk), len(chunk))

    def end_member(self, size):
        path, mode, uid, gid, mtime = self._member
        if self._chunks is not None:
            data, self._chunks = b"".join(self._chunks), None
            self._put(("whole", path, data, mode, uid, gid, mtime), len(data))
        else:
            self._put(("close", mode, uid, gid, mtime))
        self._member = None

    def finish(self):
        """Wait until everything handed over is on disk; raises the writer's error."""
        self._put(_END)
        self._thread.join()
        self._raise_error()

    def abort(self):
        """Stop without finishing: the file being written is closed, nothing more is created."""
        self._queue.stop()
        self._thread.join()

    def _put(self, item, size=0):
        if not self._queue.put(item, size):
            self._thread.join()
            self._raise_error()
            raise WriterStopped("the file writer for {0} stopped".format(self.directory))

    def _raise_error(self):
        if self.error is not None:
            raise self.error  # pylint: disable=raising-bad-type

    # -- the writer thread ------------------------------------------------------------

    def _run(self):
        fd = None  # the file being written in pieces
        try:
            while True:
                item = self._queue.get()
                if item is None or item is _END:
                    return
                op = item[0]
                if op == "data":
                    _write_all(fd, item[1])
                elif op == "open":
                    fd = self._create(item[1])
                elif op == "close":
                    done, fd = fd, None
                    self._close(done, *item[1:])
                else:  # whole
                    _op, path, data, mode, uid, gid, mtime = item
                    whole = self._create(path)
                    try:
                        _write_all(whole, data)
                    except BaseException:
                        os.close(whole)
                        raise
                    self._close(whole, mode, uid, gid, mtime)
        except BaseException as exc:  # pylint: disable=broad-except
            # Handed to the reader, which raises it: nothing is lost in the thread.
            self.error = exc
            self._queue.stop()
        finally:
            if fd is not None:
                os.close(fd)

    def _create(self, path):
        parent = os.path.dirname(path)
        if parent != self.directory and not os.path.isdir(parent):
            os.makedirs(parent, DIRECTORY_MODE)
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)

    def _close(self, fd, mode, uid, gid, mtime):
        try:
            if self._same_owner:
                os.fchown(fd, uid, gid)
            os.fchmod(fd, mode)
            os.utime(fd, (mtime, mtime))
        finally:
            os.close(fd)


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
