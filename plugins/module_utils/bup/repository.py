# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bup repository, local or remote, behind one interface.

Repository is what the operations (operations.py) need of a repository;
LocalRepository reads a directory on this host with git, RemoteRepository
reaches one with bup -r and reads it over the bup server protocol (remote.py).
The commands run through runner.Runner; repository_from_params picks the
backend from the module options.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import errno
import fcntl
import hashlib
import os
import threading

from ansible_collections.statesafe.backup.plugins.module_utils.bup import archives as archives_mod
from ansible_collections.statesafe.backup.plugins.module_utils.bup import parse
from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import (
    BupError,
    RepositoryMissing,
    UnsupportedRemote,
)
from ansible_collections.statesafe.backup.plugins.module_utils.bup.lock import (
    RunLock,
)
from ansible_collections.statesafe.backup.plugins.module_utils.bup.runner import (
    Runner,
    finish,
)

STALE_TEMPORARY_AGE = 3600
# Object ids written to git cat-file at a time.
FEED_BATCH = 1024


def _feed_object_ids(stream, oids):
    """Write each object id, a line each, then close the stream (git cat-file's stdin) whatever happened, so that
    git ends and the reader is never left waiting."""
    try:
        for start in range(0, len(oids), FEED_BATCH):
            stream.write(b"".join(oid.encode("ascii") + b"\n" for oid in oids[start:start + FEED_BATCH]))
    except (OSError, ValueError):
        pass  # the reader stopped and killed git: its own error says why
    finally:
        try:
            stream.close()
        except (OSError, ValueError):
            pass


def _remote_lock_dir(remote, cache_dir):
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in remote)
    return os.path.join(cache_dir, "statesafe-remote-locks", safe)


class Repository(object):
    """A bup repository: what every operation needs of one, local or remote.

    LocalRepository is a bare git directory on this host, read with git;
    RemoteRepository is reached with bup -r and read over the bup server
    protocol. What only a local repository can do (gc, rm, moving markers,
    reading trees) raises UnsupportedRemote on a remote one (require_local).
    """

    def __init__(self, runner, path=None):
        self.runner = runner
        self.path = path
        self.label = path

    # ---- helpers -------------------------------------------------------------------------------------------

    def where(self, **extra):
        location = {"repository": self.label}
        location.update(dict((k, v) for k, v in extra.items() if v))
        return location

    def require_local(self, operation):
        """Raise UnsupportedRemote when operation cannot run on this repository."""

    def _git(self, args, what, **kwargs):
        return self.runner.git(self.path, args, what, **dict(kwargs, repository=self.label))

    def bup(self, args, what, **kwargs):
        return self.runner.bup(args, what, **dict(kwargs, repository=self.label))

    def remote_args(self):
        """The bup arguments that point a command at this repository (bup -r)."""
        return []

    def lock_directory(self):
        """Where the run lock of this repository lives."""
        return self.path

    def lock(self, operation, timeout, token=None, honour_lease=True):
        return RunLock(self.lock_directory(), self.label, operation, timeout=timeout, token=token,
                       honour_lease=honour_lease)

    def ensure_local_cache(self):
        """Prepare what bup needs on this host before a save."""

    # ---- state ---------------------------------------------------------------------------------------------

    def exists(self):
        raise NotImplementedError

    def ensure_exists(self):
        if not self.exists():
            raise RepositoryMissing("no bup repository there; create it with statesafe.backup.bup_repo",
                                    repository=self.label)

    def init(self):
        raise NotImplementedError

    def repository_bytes(self):
        """Bytes under objects/ (packs, indexes, par2): what the repository costs on disk; None when unknown."""
        return None

    # ---- reading -------------------------------------------------------------------------------------------

    def refs(self):
        """(heads {branch: commit}, markers [...]) of the repository."""
        raise NotImplementedError

    def history(self, commit_ids):
        """rev-list records ('%H %T %at %ct') of the given commits and their ancestors, newest first."""
        raise NotImplementedError

    def commit_record(self, commit):
        """The rev-list record of one commit, or None when the object is gone."""
        raise NotImplementedError

    def archives(self, branch, heads=None, markers=None):
        """(archives newest first, moves, stale markers) of a branch."""
        if heads is None:
            heads, markers = self.refs()
        tip = heads.get(branch)
        commits = self.history([tip]) if tip else []
        own = [m for m in markers if m["branch"] == branch]
        on_branch = set(c["commit"] for c in commits)
        for marker in own:
            if marker["commit"] not in on_branch:
                marker["record"] = self.commit_record(marker["commit"])
        complete, moves, stale = archives_mod.carry_markers(commits, own)
        return archives_mod.build_archives(branch, commits, complete), moves, stale

    def tree_files(self, commit, branch=None):
        """{path: {"size", "blobs", "kind"}} of a commit's tree (local repositories)."""
        self.require_local("read a tree with git")
        result = self._git(["ls-tree", "-r", "-l", "-z", "--full-tree", commit], "listing the saved tree",
                           branch=branch, commit=commit)
        try:
            return parse.archive_files(parse.parse_ls_tree(result.stdout))
        except ValueError as exc:
            raise BupError(str(exc), **self.where(branch=branch, commit=commit)) from exc

    def digests(self, files, paths):
        """sha256 of each path, from the blobs the repository holds (one git cat-file process).

        A saved file is one blob per bup chunk (about 8 KiB), tens of thousands for a dump; asking for each and
        waiting for its answer costs two process switches a blob. A thread writes every object id while this one
        reads the answers in the same order, and git buffers its output (--buffer).
        """
        process = self.runner.spawn(self.runner.git_argv(self.path, ["cat-file", "--batch", "--buffer"]))
        feeder = threading.Thread(target=_feed_object_ids, daemon=True,
                                  args=(process.stdin, [oid for path in paths for oid in files[path]["blobs"]]))
        feeder.start()
        digests = {}
        try:
            for path in paths:
                digests[path] = self._blobs_sha256(process.stdout, files[path]["blobs"], path)
        except BaseException:
            # The feeder may be blocked on a full pipe: git must go before its pipes can be closed.
            process.kill()
            raise
        finally:
            feeder.join()
            finish(process)
        return digests

    def _blobs_sha256(self, stream, oids, path):
        digest = hashlib.sha256()
        for oid in oids:
            header = stream.readline().split()
            if len(header) != 3 or header[0] != oid.encode("ascii") or header[1] != b"blob":
                raise BupError("object {0} of {1} is missing or not a blob: {2!r}".format(
                    oid, path, b" ".join(header)), **self.where(path=path))
            remaining = int(header[2])
            while remaining:
                chunk = stream.read(min(remaining, 1 << 20))
                if not chunk:
                    raise BupError("git cat-file ended early reading {0}".format(path), **self.where(path=path))
                digest.update(chunk)
                remaining -= len(chunk)
            stream.read(1)  # the newline after each object
        return digest.hexdigest()

    def save_names(self, branch):
        """{commit: save name} as bup itself names them (what bup rm and bup restore accept)."""
        result = self.bup(["ls"] + self.remote_args() + ["--commit-hash", "/" + branch], "bup ls", branch=branch)
        return dict(parse.parse_ls_commit_hash(result.stdout))

    # ---- writing -------------------------------------------------------------------------------------------

    def index(self, staging, index_file=None):
        args = ["index"] + (["-f", index_file] if index_file else []) + [staging]
        return self.runner.run(self.runner.bup_argv(args))

    def save(self, branch, staging, date=None, index_file=None, compression=None):
        args = ["save", "-q"] + self.remote_args() + ["-n", branch, "--strip-path=" + staging]
        if date is not None:
            args += ["-d", str(int(date))]
        if index_file:
            args += ["-f", index_file]
        if compression is not None:
            args += ["-{0}".format(int(compression))]
        return self.runner.run(self.runner.bup_argv(args + [staging]))

    def mark(self, branch, commit):
        """Write the completeness marker of commit; its ref."""
        raise NotImplementedError

    def archive_files(self, commit, paths, with_digests, branch=None):
        """({path: {"size", "kind", ...}} of commit's tree, {path: sha256} of paths or None without digests)."""
        raise NotImplementedError

    def archive_sizes(self, archive_list):
        """Add size and file count to each archive where the repository can tell them cheaply."""

    def move_marker(self, marker, new_commit):
        self.require_local("move completeness markers")
        self._git(["update-ref", parse.marker_ref(marker["branch"], new_commit), new_commit, ""],
                  "moving a completeness marker", branch=marker["branch"], commit=new_commit)
        self.delete_marker(marker)

    def delete_marker(self, marker):
        self.require_local("delete completeness markers")
        self._git(["update-ref", "-d", marker["ref"], marker["target"]], "deleting a completeness marker",
                  branch=marker["branch"], commit=marker["commit"])

    def rm(self, branch, names):
        self.require_local("remove saves")
        paths = ["/{0}/{1}".format(branch, name) for name in names]
        return self.bup(["rm", "--unsafe"] + paths, "bup rm", branch=branch)

    def stale_temporaries(self, now, min_age=STALE_TEMPORARY_AGE):
        """objects/pack-tmp-* directories nothing wrote to for min_age seconds.

        bup 0.33 writes a pack under objects/pack-tmp-XXXX and moves it into
        objects/pack when done; a killed save leaves the directory, and the
        partial pack in it, behind forever (bup gc does not look there).
        """
        found = []
        objects = os.path.join(self.path, "objects")
        for name in sorted(os.listdir(objects)) if os.path.isdir(objects) else ():
            path = os.path.join(objects, name)
            if not name.startswith("pack-tmp-") or not os.path.isdir(path) or os.path.islink(path):
                continue
            newest = os.lstat(path).st_mtime
            size = 0
            for entry in os.listdir(path):
                info = os.lstat(os.path.join(path, entry))
                newest = max(newest, info.st_mtime)
                size += info.st_size
            if now - newest >= min_age:
                found.append({"path": path, "bytes": size, "age": int(now - newest)})
        return found

    def gc(self, threshold=None):
        self.require_local("collect garbage")
        args = ["gc", "--unsafe"] + (["--threshold", str(threshold)] if threshold is not None else [])
        return self.bup(args, "bup gc")


class LocalRepository(Repository):
    """A bup repository in a directory of this host, read with git."""

    def exists(self):
        return all(os.path.exists(os.path.join(self.path, p)) for p in ("HEAD", "objects/pack", "refs"))

    def init(self):
        """Create the repository; False when another run created it meanwhile.

        Applications of one inventory that share a repository start side by side and may all find it missing; two
        `bup init`s in one directory collide on git's config lock. Each takes an flock of the directory and looks
        again under it, so one initialises and the others find it made."""
        try:
            os.makedirs(self.path, 0o700)
        except OSError as exc:
            if exc.errno != errno.EEXIST:
                raise
        fd = os.open(self.path, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if self.exists():
                return False
            if os.listdir(self.path):
                raise RepositoryMissing("the directory exists, is not empty and is not a bup repository; "
                                        "refusing to initialise it", repository=self.label)
            self.bup(["init"], "bup init")
            return True
        finally:
            os.close(fd)

    def repository_bytes(self):
        total = 0
        for root, _dirs, files in os.walk(os.path.join(self.path, "objects")):
            for name in files:
                try:
                    total += os.lstat(os.path.join(root, name)).st_size
                except OSError:
                    pass  # a pack gc removed while we walked
        return total

    def refs(self):
        result = self._git(["for-each-ref", "--format=%(objectname) %(refname)", "refs/heads", "refs/tags/complete"],
                           "listing refs")
        return parse.parse_refs(result.stdout)

    def history(self, commit_ids):
        if not commit_ids:
            return []
        result = self._git(["rev-list", "--no-commit-header", "--format=%H %T %at %ct"] + list(commit_ids),
                           "reading history")
        return parse.parse_rev_list(result.stdout)

    def commit_record(self, commit):
        result = self.runner.run(self.runner.git_argv(self.path, ["rev-list", "--no-walk", "--no-commit-header",
                                                                  "--format=%H %T %at %ct", commit]))
        if result.rc != 0:
            return None
        records = parse.parse_rev_list(result.stdout)
        return records[0] if records else None

    def mark(self, branch, commit):
        ref = parse.marker_ref(branch, commit)
        self._git(["update-ref", ref, commit, ""], "writing the completeness marker", branch=branch, commit=commit)
        return ref

    def archive_files(self, commit, paths, with_digests, branch=None):
        files = self.tree_files(commit, branch=branch)
        if not with_digests:
            return files, None
        present = [p for p in paths if p in files and files[p]["kind"] == "file"]
        return files, self.digests(files, present)

    def archive_sizes(self, archive_list):
        for archive in archive_list:
            files = self.tree_files(archive["commit"], branch=archive["branch"])
            archive["size"] = sum(f["size"] for f in files.values() if f["kind"] == "file")
            archive["files"] = len(files)


class RemoteRepository(Repository):
    """A bup repository reached with bup -r: saved and restored by bup, read over the bup server protocol.

    bup keeps the index and index cache of -r in a local BUP_DIR (the runner's),
    and the run lock beside it, since nothing can be locked on the server.
    server: a factory of bup_remote.ServerConnection for this repository.
    """

    def __init__(self, runner, remote, server, path=None):
        super(RemoteRepository, self).__init__(runner, path=path)
        self.remote = remote
        self.remote_server = server
        self.label = remote

    def require_local(self, operation):
        raise UnsupportedRemote(
            "{0} needs the repository on this host: bup cannot {0} over -r. Run this task on the "
            "repository host (delegate_to) with repository set to its local path".format(operation),
            repository=self.label)

    def remote_args(self):
        return ["-r", self.remote]

    def lock_directory(self):
        directory = _remote_lock_dir(self.remote, self.runner.bup_dir)
        if not os.path.isdir(directory):
            os.makedirs(directory, 0o700)
        return directory

    def ensure_local_cache(self):
        if not os.path.exists(os.path.join(self.runner.bup_dir, "objects")):
            if not os.path.isdir(self.runner.bup_dir):
                os.makedirs(self.runner.bup_dir, 0o700)
            self.bup(["init"], "bup init of the local cache for -r")

    def exists(self):
        with self.remote_server(self) as server:
            return server.exists()

    def init(self):
        if not os.path.isdir(self.runner.bup_dir):
            os.makedirs(self.runner.bup_dir, 0o700)
        return self.bup(["init", "-r", self.remote], "bup init")

    def refs(self):
        with self.remote_server(self) as server:
            return parse.parse_refs(server.refs())

    def history(self, commit_ids):
        if not commit_ids:
            return []
        with self.remote_server(self) as server:
            return parse.parse_rev_list(server.rev_list(commit_ids, "%H %T %at %ct"))

    def commit_record(self, commit):
        try:
            records = self.history([commit])
        except BupError:
            return None
        return records[0] if records else None

    def mark(self, branch, commit):
        ref = parse.marker_ref(branch, commit)
        with self.remote_server(self) as server:
            server.update_ref(ref, commit, None)
        return ref

    def archive_files(self, commit, paths, with_digests, branch=None):
        with self.remote_server(self) as server:
            return server.archive_files(commit, list(paths), with_digests)


def repository_from_params(params, remote_server=None):
    """A Repository and its runner from the shared module options."""
    remote = params.get("remote")
    path = params.get("repository")
    if remote:
        bup_dir = params.get("remote_cache_dir") or os.path.expanduser("~/.bup")
    else:
        path = os.path.abspath(os.path.expanduser(path))
        bup_dir = path
    runner = Runner(bup_dir, bup_bin=params.get("bup_command") or "bup")
    if not remote:
        return LocalRepository(runner, path=path)
    if remote_server is None:
        from ansible_collections.statesafe.backup.plugins.module_utils.bup.remote import (  # pylint: disable=import-outside-toplevel
            ServerConnection,
        )

        remote_server = ServerConnection
    return RemoteRepository(runner, remote, remote_server, path=path)
