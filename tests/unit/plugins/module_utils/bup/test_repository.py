"""The two repository backends behind one interface, as far as no bup process is needed."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import subprocess
import threading
import time

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.bup import repository
from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import BupError, UnsupportedRemote


class Server:
    def __init__(self, calls):
        self.calls = calls

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        return False

    def refs(self):
        self.calls.append("refs")
        return b""

    def archive_files(self, commit, paths, with_digests):
        self.calls.append(("archive_files", commit, paths, with_digests))
        return {"a": {"size": 1, "kind": "file"}}, {"a": "0" * 64} if with_digests else None


def test_repository_from_params_picks_the_backend(tmp_path):
    local = repository.repository_from_params({"repository": str(tmp_path)})
    assert isinstance(local, repository.LocalRepository) and local.label == str(tmp_path)
    assert local.remote_args() == [] and local.lock_directory() == str(tmp_path)
    remote = repository.repository_from_params({"remote": "host:/srv/bup", "remote_cache_dir": str(tmp_path / "c")},
                                               remote_server=lambda repo: Server([]))
    assert isinstance(remote, repository.RemoteRepository) and remote.label == "host:/srv/bup"
    assert remote.remote_args() == ["-r", "host:/srv/bup"]


def test_a_remote_repository_refuses_what_needs_the_repository_host(tmp_path):
    remote = repository.repository_from_params({"remote": "host:/srv/bup", "remote_cache_dir": str(tmp_path)},
                                               remote_server=lambda repo: Server([]))
    for operation in (remote.gc, lambda: remote.rm("b", ["n"]), lambda: remote.tree_files("c")):
        with pytest.raises(UnsupportedRemote, match="bup cannot .* over -r"):
            operation()
    local = repository.repository_from_params({"repository": str(tmp_path)})
    assert local.require_local("collect garbage") is None


def test_a_remote_repository_reads_over_the_server_protocol(tmp_path):
    calls = []
    remote = repository.repository_from_params({"remote": "host:/srv/bup", "remote_cache_dir": str(tmp_path)},
                                               remote_server=lambda repo: Server(calls))
    assert remote.refs() == ({}, [])
    files, digests = remote.archive_files("c0ffee", ("a",), True)
    assert files["a"]["kind"] == "file" and digests == {"a": "0" * 64}
    assert calls == ["refs", ("archive_files", "c0ffee", ["a"], True)]
    assert remote.repository_bytes() is None and remote.history([]) == []


class SlowInit:
    """A runner whose `bup init` takes a while and makes the repository's layout, as bup does; it counts the inits."""

    def __init__(self, path):
        self.path, self.inits = path, 0

    def bup(self, args, what, **kwargs):
        assert args == ["init"]
        self.inits += 1
        time.sleep(0.2)
        for name in ("objects/pack", "refs"):
            os.makedirs(os.path.join(self.path, name))
        with open(os.path.join(self.path, "HEAD"), "w") as head:
            head.write("ref: refs/heads/main\n")


def test_runs_that_create_one_repository_side_by_side_initialise_it_once(tmp_path):
    path = str(tmp_path / "shared")
    runner = SlowInit(path)
    results = []

    def init():
        repo = repository.LocalRepository(runner, path)
        results.append(repo.init())

    threads = [threading.Thread(target=init) for index in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert runner.inits == 1
    assert sorted(results) == [False, False, False, True]
    assert repository.LocalRepository(runner, path).exists()


def test_init_still_refuses_a_directory_that_is_not_a_repository(tmp_path):
    (tmp_path / "data").write_text("x")
    runner = SlowInit(str(tmp_path))
    with pytest.raises(repository.RepositoryMissing, match="not empty and is not a bup repository"):
        repository.LocalRepository(runner, str(tmp_path)).init()
    assert runner.inits == 0


def _git_repository_with_blobs(path, count, size):
    """A bare git repository holding count blobs of size bytes each (real git, no bup needed); their ids and bytes."""
    subprocess.run(["git", "init", "-q", "--bare", str(path)], check=True, timeout=60)
    contents = [("blob {0:06d} ".format(n) * (size // 12 + 1))[:size].encode() for n in range(count)]
    done = subprocess.run(["git", "--git-dir=" + str(path), "hash-object", "-w", "--stdin-paths"], check=True,
                          capture_output=True, cwd=str(path), timeout=60,
                          input="\n".join(_write_all(path, contents)).encode())
    return done.stdout.decode().split(), contents


def _write_all(path, contents):
    names = []
    for n, data in enumerate(contents):
        name = os.path.join(str(path), "in-{0}".format(n))
        with open(name, "wb") as handle:
            handle.write(data)
        names.append(name)
    return names


def _digests_in_a_thread(local, files, path, seconds=60):
    """(whether digests() of path still runs after `seconds`, the BupError messages it raised): a hang fails the
    test instead of the whole run."""
    raised = []

    def read():
        try:
            local.digests(files, [path])
        except BupError as exc:
            raised.append(str(exc))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(seconds)
    return reader.is_alive(), raised


def test_digests_read_thousands_of_chunks_in_one_stream(tmp_path):
    # More ids and more answers than a pipe holds, both ways at once.
    oids, contents = _git_repository_with_blobs(tmp_path / "repo", 3000, 100)
    local = repository.repository_from_params({"repository": str(tmp_path / "repo")})
    files = {"dumps/a.dump": {"blobs": oids[:2000] * 3}, "b": {"blobs": oids[2000:]}, "c": {"blobs": oids[:1]}}
    digests = local.digests(files, ["dumps/a.dump", "b", "c"])
    assert digests == {"dumps/a.dump": hashlib.sha256(b"".join(contents[:2000] * 3)).hexdigest(),
                       "b": hashlib.sha256(b"".join(contents[2000:])).hexdigest(),
                       "c": hashlib.sha256(contents[0]).hexdigest()}


def test_a_missing_chunk_is_named_and_git_stopped_while_ids_are_still_being_written(tmp_path):
    oids, _contents = _git_repository_with_blobs(tmp_path / "repo", 3, 10)
    local = repository.repository_from_params({"repository": str(tmp_path / "repo")})
    missing = "0" * 40
    # The ids after the missing one (far more than a pipe holds) are still being written when it is found.
    files = {"dumps/a.dump": {"blobs": oids + [missing] + oids * 100000}}
    hung, raised = _digests_in_a_thread(local, files, "dumps/a.dump")
    assert not hung, "digests() hung after a missing chunk"
    assert raised and "object {0} of dumps/a.dump is missing or not a blob".format(missing) in raised[0]


def test_ids_that_cannot_be_written_end_the_read_with_an_error_not_a_hang(tmp_path):
    oids, _contents = _git_repository_with_blobs(tmp_path / "repo", 2, 10)
    local = repository.repository_from_params({"repository": str(tmp_path / "repo")})
    files = {"dumps/a.dump": {"blobs": [oids[0], "\u00e9" * 40, oids[1]]}}
    hung, raised = _digests_in_a_thread(local, files, "dumps/a.dump")
    assert not hung, "digests() hung when an id could not be written"
    assert raised and "of dumps/a.dump is missing or not a blob" in raised[0]
