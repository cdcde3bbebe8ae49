# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A small client of `bup server`, the protocol behind bup's -r option.

bup's command line reads and writes a remote repository for init, save, ls
and restore, but has no remote command to list refs with dates, to write a
marker ref or to read objects back for validation. `bup server` (what `bup -r`
runs over ssh) does have them: refs, rev-list, update-ref and cat-batch. This
speaks exactly those, over the same connection bup uses (ssh, or a local
process for file:// and ':path'), so a key restricted to `bup server` is
enough. It cannot delete a ref or collect garbage; those stay local-only.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import re

from ansible_collections.statesafe.backup.plugins.module_utils.bup import parse
from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import (
    BadInput,
    BupError,
)
from ansible_collections.statesafe.backup.plugins.module_utils.bup.runner import (
    finish,
)

_URL = re.compile(r"^([a-z]+)://(?:(\[[^\]]+\]|[^:/]+)(?::(\d+))?)?(/.*)?$")


def parse_remote(spec):
    """bup's -r syntax -> (protocol, host, port, path), as bup's client.parse_remote reads it."""
    match = _URL.match(spec)
    if match:
        protocol, host, port, path = match.groups()
        if protocol not in ("ssh", "file"):
            raise BadInput("remote protocol {0}:// is not supported here (ssh://, file:// or host:path)"
                           .format(protocol), repository=spec)
        if host and host.startswith("["):
            host = host[1:-1]
        if protocol == "file":
            return "file", None, None, path
        return "ssh", host, port, path
    host, colon, path = spec.partition(":")
    if not colon:
        raise BadInput("remote {0!r} is not host:path, ssh://host[:port]/path or file:///path".format(spec),
                       repository=spec)
    if not host:
        return "file", None, None, path
    return "ssh", host, None, path


def server_argv(spec, bup_command="bup"):
    protocol, host, port, _path = parse_remote(spec)
    if protocol == "file":
        return [bup_command, "server"]
    argv = ["ssh"]
    if port:
        argv += ["-p", port]
    return argv + [host, "--", "{0} server".format(bup_command)]


def parse_tree(data):
    """A raw git tree object -> [(mode, name, hex oid)]."""
    entries = []
    position = 0
    while position < len(data):
        space = data.index(b" ", position)
        nul = data.index(b"\0", space)
        mode = data[position:space].decode("ascii")
        name = parse.decode_path(data[space + 1:nul])
        oid = data[nul + 1:nul + 21].hex()
        entries.append((mode.zfill(6), name, oid))
        position = nul + 21
    return entries


class _ObjectReader(object):
    """Reads one object's bytes off the session, never past its end."""

    def __init__(self, connection, size):
        self.connection = connection
        self.remaining = size

    def read(self, limit=1 << 20):
        if not self.remaining:
            return b""
        chunk = self.connection.process.stdout.read(min(limit, self.remaining))
        if not chunk:
            raise self.connection.died("bup server ended the session inside an object")
        self.remaining -= len(chunk)
        return chunk


class ServerConnection(object):
    """Context manager: one `bup server` session on the repository's directory."""

    def __init__(self, repo):
        self.repo = repo
        self.spec = repo.remote
        self.path = parse_remote(self.spec)[3]
        self.process = None
        self.dir_set = False

    def __enter__(self):
        self.process = self.repo.runner.spawn(server_argv(self.spec, self.repo.runner.bup_bin))
        return self

    def __exit__(self, *exc_info):
        try:
            if self.process.poll() is None:
                self.process.stdin.write(b"quit\n")
                self.process.stdin.flush()
        except (IOError, OSError):
            pass
        finish(self.process)
        return False

    # ---- framing ---------------------------------------------------------------------------------------------

    def _send(self, data):
        try:
            self.process.stdin.write(data)
            self.process.stdin.flush()
        except (IOError, OSError) as exc:
            raise self.died("cannot write to bup server: {0}".format(exc)) from exc

    def died(self, message):
        try:
            self.process.wait(timeout=5)
            self.process.stderr_file.seek(0)
            detail = self.process.stderr_file.read().decode("utf-8", "replace").strip()
        except Exception:  # pylint: disable=broad-except
            detail = ""
        return BupError("{0}{1}".format(message, ": " + detail[-1000:] if detail else ""), repository=self.spec)

    def _line(self):
        line = self.process.stdout.readline()
        if not line.endswith(b"\n"):
            raise self.died("bup server ended the session")
        return line

    def _check_ok(self):
        while True:
            line = self._line().rstrip(b"\n")
            if not line:
                continue
            if line == b"ok":
                return
            if line.startswith(b"error "):
                raise BupError("bup server: " + line[6:].decode("utf-8", "replace"), repository=self.spec)
            raise BupError("bup server sent {0!r} where 'ok' was expected".format(line[:200]), repository=self.spec)

    def _until_blank(self):
        lines = []
        while True:
            line = self._line()
            if line == b"\n":
                return lines
            lines.append(line)

    # ---- commands --------------------------------------------------------------------------------------------

    def set_dir(self):
        if not self.dir_set:
            self._send("set-dir {0}\n".format(self.path).encode("utf-8"))
            self._check_ok()
            self.dir_set = True

    def exists(self):
        try:
            self.set_dir()
        except BupError:
            return False
        return True

    def refs(self):
        """'oid refname' lines of heads and markers, like git for-each-ref's output."""
        self.set_dir()
        self._send(b"refs 0 0\n\n")  # bup passes patterns to git show-ref, which matches ref name tails
        lines = self._until_blank()
        self._check_ok()
        return b"".join(lines)

    def rev_list(self, commits, fmt):
        self.set_dir()
        self._send(b"rev-list\n\n" + fmt.encode("ascii") + b"\n" +
                   b"".join(c.encode("ascii") + b"\n" for c in commits) + b"\n")
        lines = self._until_blank()
        self._check_ok()
        return b"".join(lines)

    def update_ref(self, ref, new, old):
        self.set_dir()
        self._send("update-ref {0}\n{1}\n{2}\n".format(ref, new, old or "").encode("utf-8"))
        self._check_ok()

    def _cat(self, oids, consume):
        """cat-batch: consume(oid, type, size, read) for each object, in order."""
        self._send(b"cat-batch\n" + b"".join(o.encode("ascii") + b"\n" for o in oids) + b"\n")
        for oid in oids:
            header = self._line()
            if header == b"missing\n":
                raise BupError("object {0} is missing from the repository".format(oid), repository=self.spec)
            _oid, kind, size = header.split()
            reader = _ObjectReader(self, int(size))
            consume(oid, kind.decode("ascii"), int(size), reader.read)
            while reader.read():
                pass
        self._check_ok()

    def _objects(self, oids):
        found = {}

        def keep(oid, kind, _size, read):
            found[oid] = (kind, b"".join(iter(read, b"")))

        self._cat(oids, keep)
        return found

    def archive_files(self, commit, paths, want_digests):
        """Like bup_parse.archive_files for the artifacts' paths, sizes read by fetching their content."""
        self.set_dir()
        commit_data = self._objects([commit])[commit][1]
        tree = commit_data.split(b"\n", 1)[0].split()[1].decode("ascii")
        trees = {}
        level = [tree]
        while level:  # one round trip per depth, then walk depth first: chunks must stay in file order
            for oid, (_kind, data) in self._objects(sorted(set(level))).items():
                trees[oid] = parse_tree(data)
            level = [child for oid in level for mode, _name, child in trees[oid] if mode == "040000"]
        entries = []

        def walk(oid, prefix):  # git's tree order, as `git ls-tree -r` lists it
            for mode, name, child in trees[oid]:
                if mode == "040000":
                    walk(child, prefix + name + "/")
                else:
                    entries.append((mode, "blob", child, 0, prefix + name))

        walk(tree, "")
        files = parse.archive_files(entries)
        wanted = [p for p in paths if p in files and files[p]["kind"] == "file"]
        sizes = dict((p, 0) for p in wanted)
        hashes = dict((p, hashlib.sha256()) for p in wanted)
        owners = []
        for path in wanted:
            owners.extend((oid, path) for oid in files[path]["blobs"])
        for start in range(0, len(owners), 256):
            batch = owners[start:start + 256]
            paths_of = iter(batch)

            def consume(oid, _kind, size, read):
                _oid, path = next(paths_of)
                sizes[path] += size
                for chunk in iter(read, b""):
                    hashes[path].update(chunk)

            self._cat([oid for oid, _path in batch], consume)
        for path in wanted:
            files[path]["size"] = sizes[path]
        digests = dict((p, h.hexdigest()) for p, h in hashes.items()) if want_digests else None
        return files, digests
