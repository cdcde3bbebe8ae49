from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.volume import file_writer
from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.volume import copy as pv_copy
from ansible_collections.statesafe.backup.plugins.module_utils.volume import apply as copy_apply
from ansible_collections.statesafe.backup.plugins.module_utils.volume import receive as copy_receive
from ansible_collections.statesafe.backup.plugins.module_utils.volume import send as copy_send
from ansible_collections.statesafe.backup.plugins.module_utils.volume import target as copy_target
from ansible_collections.statesafe.backup.plugins.module_utils.volume import tar_native
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ChecksumMismatch,
    ExecFailed,
    FileChangedWhileRead,
    InvalidInput,
    PodNotReady,
    StreamCut,
    StreamError,
    UnsafeArchive,
    VerificationFailed,
)

from ansible_collections.statesafe.backup.plugins.module_utils.k8s.exec_protocol import ExitStatus

from tarbuild import archive, member


WRITERS = ["gnu-tar", "python"]


@pytest.fixture(params=WRITERS)
def writer(request, monkeypatch):
    """Each receive test runs with GNU tar writing the files, and with the Python writer used without it."""
    if request.param == "gnu-tar":
        if tar_native.gnu_tar() is None:
            pytest.skip("GNU tar is not installed")
    else:
        monkeypatch.setattr(tar_native, "gnu_tar", lambda: None)
    return request.param


class TestReceive:
    """copy_receive.receive: tar_native's one reader and checks, whichever sink writes the files."""

    def test_files_land_under_their_own_names_with_metadata(self, tmp_path, writer):
        stage = tmp_path / "stage"
        stage.mkdir()
        data = archive(member("a/b.txt", data=b"hello", mode=0o4640, mtime=1600000000),
                       member("c", data=b"", mode=0o600))
        got = copy_receive.receive(io.BytesIO(data), ["a/b.txt", "c"], str(stage))
        assert sorted(os.listdir(str(stage))) == ["a", "c"]
        ab = got["a/b.txt"]
        assert ab.staged == str(stage / "a" / "b.txt") and copy_apply.received_in_place(str(stage), got)
        assert (ab.size, ab.mtime, ab.mode) == (5, 1600000000, 0o640)
        assert ab.sha256 == hashlib.sha256(b"hello").hexdigest()
        assert open(ab.staged, "rb").read() == b"hello"
        assert os.stat(ab.staged).st_mtime == 1600000000
        assert os.stat(ab.staged).st_mode & 0o7777 == 0o640, "setuid dropped, the rest kept"
        assert os.stat(got["c"].staged).st_size == 0

    HOSTILE = {
        "absolute": member("/tmp/evil", data=b"x"),
        "traversal": member("../evil", data=b"x"),
        "symlink": member("a", "symlink", link="/etc"),
        "dir": member("d", "dir"),
        "device": member("dev", "chr"),
        "hardlink": member("h", "hardlink", link="a"),
        "not-requested": member("other", data=b"x"),
    }

    @pytest.mark.parametrize("case", sorted(HOSTILE))
    def test_refuses_anything_not_requested(self, tmp_path, case, writer):
        data = archive(member("a", data=b"fine"), self.HOSTILE[case]) if case != "symlink" else archive(
            self.HOSTILE[case])
        with pytest.raises(UnsafeArchive):
            copy_receive.receive(io.BytesIO(data), ["a"], str(tmp_path))
        assert not (tmp_path.parent / "evil").exists() and not os.path.exists("/tmp/evil")
        assert not any(p.is_symlink() or not (p.is_file() or p.is_dir()) for p in tmp_path.rglob("*"))
        assert not _writer_threads()

    def test_duplicate_member(self, tmp_path, writer):
        data = archive(member("a", data=b"1"), member("a", data=b"2"))
        with pytest.raises(UnsafeArchive, match="twice"):
            copy_receive.receive(io.BytesIO(data), ["a"], str(tmp_path))

    def test_missing_files_even_with_a_clean_end(self, tmp_path, writer):
        data = archive(member("a", data=b"1"))
        with pytest.raises(StreamError, match="1 of 2 files missing, first b"):
            copy_receive.receive(io.BytesIO(data), ["a", "b"], str(tmp_path))

    @pytest.mark.parametrize("chunk", [tar_native.COPY_CHUNK, 300])
    @pytest.mark.parametrize("keep", [0, 100, 512, 700, 1500])
    def test_truncated_streams(self, tmp_path, monkeypatch, keep, chunk, writer):
        # 300: a and b are read in pieces, and the Python writer gets them in pieces too
        monkeypatch.setattr(tar_native, "COPY_CHUNK", chunk)
        monkeypatch.setattr(file_writer, "WHOLE_FILE_BYTES", chunk)
        data = archive(member("a", data=b"x" * 1000), member("b", data=b"y" * 10))
        with pytest.raises(StreamError):
            copy_receive.receive(io.BytesIO(data[:keep]), ["a", "b"], str(tmp_path))
        assert not _writer_threads()

    def test_large_files_go_through_in_chunks(self, tmp_path, monkeypatch, writer):
        monkeypatch.setattr(tar_native, "COPY_CHUNK", 4096)
        monkeypatch.setattr(file_writer, "WHOLE_FILE_BYTES", 4096)
        big = os.urandom(100000)
        data = archive(member("big", data=big, mtime=1600000001, mode=0o755), member("small", data=b"s"))
        got = copy_receive.receive(io.BytesIO(data), ["big", "small"], str(tmp_path))
        assert open(got["big"].staged, "rb").read() == big
        assert got["big"].sha256 == hashlib.sha256(big).hexdigest()
        assert (got["big"].size, got["big"].mtime, got["big"].mode) == (100000, 1600000001, 0o755)
        assert os.stat(got["big"].staged).st_mtime == 1600000001
        assert got["small"].sha256 == hashlib.sha256(b"s").hexdigest()

    def test_a_disk_error_reaches_the_caller(self, tmp_path, writer):
        data = archive(member("a", data=b"1"), member("b", data=b"2"))
        with pytest.raises(OSError):
            copy_receive.receive(io.BytesIO(data), ["a", "b"], str(tmp_path / "no-such-dir"))
        assert not _writer_threads()

    def test_empty_expectation_accepts_empty_stream(self, tmp_path, writer):
        assert copy_receive.receive(io.BytesIO(b""), [], str(tmp_path)) == {}

    def test_the_python_writer_is_used_without_gnu_tar(self, tmp_path, monkeypatch):
        monkeypatch.setattr(tar_native, "gnu_tar", lambda: None)
        started = []
        real = file_writer.FileWriter

        def spy(*args, **kwargs):
            started.append(args)
            return real(*args, **kwargs)

        monkeypatch.setattr(file_writer, "FileWriter", spy)
        got = copy_receive.receive(io.BytesIO(archive(member("a/b", data=b"1"))), ["a/b"], str(tmp_path))
        assert started and got["a/b"].staged == str(tmp_path / "a" / "b")


class TestWriterQueue:
    def test_put_waits_while_the_queue_is_full_of_bytes(self):
        queue = file_writer.WriterQueue(max_bytes=10, max_items=100)
        assert queue.put("a", 8)
        done = threading.Event()

        def second():
            queue.put("b", 8)
            done.set()

        thread = threading.Thread(target=second)
        thread.start()
        assert not done.wait(0.2), "a second 8 bytes must wait: 16 > 10"
        assert queue.get() == "a"
        assert done.wait(5)
        assert queue.get() == "b"
        thread.join()

    def test_one_oversized_item_still_passes_an_empty_queue(self):
        queue = file_writer.WriterQueue(max_bytes=10, max_items=100)
        assert queue.put("big", 1000)
        assert queue.get() == "big"

    def test_stop_releases_a_waiting_put(self):
        queue = file_writer.WriterQueue(max_bytes=1, max_items=1)
        queue.put("a", 1)
        result = []
        thread = threading.Thread(target=lambda: result.append(queue.put("b", 1)))
        thread.start()
        queue.stop()
        thread.join(5)
        assert result == [False]
        assert queue.get() is None


class TestCheckReceived:
    def received(self, sha):
        return {"f": tar_native.Received("/x", 3, sha, 0, 0o644)}

    def test_ok(self):
        copy_receive.check_received(self.received("ab"), {"f": "ab"})

    @pytest.mark.parametrize("sums, message", [({}, "no checksum"), ({"f": "cd"}, "sha256 mismatch")])
    def test_mismatch_names_file(self, sums, message):
        with pytest.raises(ChecksumMismatch, match=message) as caught:
            copy_receive.check_received(self.received("ab"), sums)
        assert caught.value.location == {"path": "f"}


class TestBuildTar:
    def test_roundtrip_and_manifest(self, tmp_path):
        src = tmp_path / "src"
        (src / "d").mkdir(parents=True)
        (src / "d" / "f").write_bytes(b"content")
        os.symlink("d/f", str(src / "l"))
        os.mkfifo(str(src / "fifo"))
        out = io.BytesIO()
        sums = copy_send.build_tar(out, str(src), mirror.scan_local(str(src)))
        import hashlib
        assert sums == {"d/f": hashlib.sha256(b"content").hexdigest()}
        with tarfile.open(fileobj=io.BytesIO(out.getvalue())) as tar:
            names = [(m.name, m.type) for m in tar.getmembers()]
            manifest = tar.extractfile(".statesafe-manifest").read()
        assert names == [("d", tarfile.DIRTYPE), ("d/f", tarfile.REGTYPE), ("l", tarfile.SYMTYPE),
                         (".statesafe-manifest", tarfile.REGTYPE)]
        assert manifest == mirror.sha256sum_manifest(sums)

    def test_file_changed_since_listing(self, tmp_path):
        (tmp_path / "f").write_bytes(b"abc")
        listing = mirror.scan_local(str(tmp_path))
        (tmp_path / "f").write_bytes(b"abcdef")
        with pytest.raises(InvalidInput, match="changed size"):
            copy_send.build_tar(io.BytesIO(), str(tmp_path), listing)


class TestApplyPlan:
    def test_refuses_to_write_through_a_planted_symlink(self, tmp_path):
        root = tmp_path / "root"
        outside = tmp_path / "outside"
        root.mkdir()
        outside.mkdir()
        os.symlink(str(outside), str(root / "d"))
        staged = tmp_path / "staged"
        staged.write_bytes(b"x")
        plan = mirror.MirrorPlan()
        plan.transfer = ["d/f"]
        source = {"d": mirror.Entry("dir", 0, 0, 0o755, 0, 0, None),
                  "d/f": mirror.Entry("file", 1, 0, 0o644, 0, 0, None)}
        received = {"d/f": tar_native.Received(str(staged), 1, "", 0, 0o644)}
        with pytest.raises(UnsafeArchive):
            copy_apply.apply_plan(str(root), plan, source, received, str(tmp_path), None)
        assert os.listdir(str(outside)) == []

    def test_read_only_directory_is_filled_before_its_mode_is_set(self, tmp_path):
        root, stage = tmp_path / "root", tmp_path / "stage"
        root.mkdir()
        stage.mkdir()
        (stage / "0").write_bytes(b"x")
        source = {"ro": mirror.Entry("dir", 0, 0, 0o555, 0, 0, None),
                  "ro/f": mirror.Entry("file", 1, 5, 0o444, 0, 0, None)}
        plan = mirror.plan_mirror(source, {})
        received = {"ro/f": tar_native.Received(str(stage / "0"), 1, "", 5, 0o444)}
        copy_apply.apply_plan(str(root), plan, source, received, str(stage), None)
        assert (root / "ro" / "f").read_bytes() == b"x"
        assert os.stat(str(root / "ro")).st_mode & 0o777 == 0o755

    @pytest.mark.skipif(tar_native.gnu_tar() is None, reason="GNU tar is not installed")
    def test_a_new_tree_is_built_where_tar_put_the_files(self, tmp_path):
        tree, stage = tmp_path / "tree", tmp_path / "stage"
        tree.mkdir()
        stage.mkdir()
        data = archive(member("ro/f", data=b"x", mode=0o444, mtime=5), member("top", data=b"t"))
        received = copy_receive.receive(io.BytesIO(data), ["ro/f", "top"], str(tree))
        assert copy_apply.received_in_place(str(tree), received)
        source = {"ro": mirror.Entry("dir", 0, 0, 0o555, 0, 0, None), "empty": mirror.Entry("dir", 0, 0, 0o700, 0, 0, None),
                  "ro/f": mirror.Entry("file", 1, 5, 0o444, 0, 0, None),
                  "top": mirror.Entry("file", 1, 0, 0o644, 0, 0, None),
                  "ln": mirror.Entry("symlink", 0, 0, 0o777, 0, 0, "top")}
        plan = mirror.plan_mirror(source, {})
        copy_apply.apply_plan(str(tree), plan, source, received, str(stage), None)
        assert (tree / "ro" / "f").read_bytes() == b"x" and os.readlink(str(tree / "ln")) == "top"
        assert (tree / "empty").is_dir()
        assert os.stat(str(tree / "ro")).st_mode & 0o777 == 0o755, "tar's directory gets the source's mode"

    def test_a_file_where_the_plan_wants_a_directory_is_refused(self, tmp_path):
        (tmp_path / "d").write_bytes(b"not a dir")
        with pytest.raises(FileExistsError):
            copy_apply._mkdir(str(tmp_path / "d"))


@pytest.mark.parametrize("text, names", [
    ("./a: FAILED\n./dir/b c: FAILED\nsha256sum: WARNING: 2 computed checksums did NOT match", ["a", "dir/b c"]),
    ("./gone: FAILED open or read\n", ["gone"]),
    ("\\./new\\nline: FAILED\n", ["new\\nline"]),
    ("all good", []),
])
def test_failed_files(text, names):
    assert copy_send.failed_files(text) == names


@pytest.mark.parametrize("path, root", [
    (None, "/mnt/claim"), ("/", "/mnt/claim"), (".", "/mnt/claim"), ("data", "/mnt/claim/data"),
    ("/data/./x/", "/mnt/claim/data/x"),
])
def test_claim_root(path, root):
    assert pv_copy.claim_root(path) == root


@pytest.mark.parametrize("path", ["..", "a/../../b"])
def test_claim_root_refuses_escape(path):
    with pytest.raises(InvalidInput):
        pv_copy.claim_root(path)


def test_claim_root_under_a_users_mount():
    assert pv_copy.claim_root("db/", "/var/lib/app") == "/var/lib/app/db"
    assert pv_copy.claim_root("/", "/var/lib/app") == "/var/lib/app"


class _Pods(object):
    def __init__(self, pods):
        self.pods = pods

    def list_pods(self, namespace, label_selector=None):
        return self.pods


def _user(name="web-a", state=None):
    return {"metadata": {"name": name},
            "spec": {"volumes": [{"name": "v", "persistentVolumeClaim": {"claimName": "data"}}],
                     "containers": [{"name": "main", "volumeMounts": [{"name": "v", "mountPath": "/srv/data"}]}]},
            "status": {"phase": "Running", "containerStatuses": [{"name": "main", "state": state or {"running": {}}}]}}


def test_a_copy_through_the_claims_user_reads_at_its_mount_path():
    target = pv_copy.resolve_claim_user_target(_Pods([_user()]), "ns", "data", None, "db")
    assert (target.namespace, target.pod, target.container, target.root) == ("ns", "web-a", "main", "/srv/data/db")


def test_a_copy_through_a_user_whose_container_is_not_running_names_it():
    with pytest.raises(PodNotReady) as caught:
        pv_copy.resolve_claim_user_target(_Pods([_user(state={"waiting": {"reason": "CrashLoopBackOff"}})]), "ns",
                                          "data", None, "/")
    assert "CrashLoopBackOff" in str(caught.value) and "namespace=ns pod=web-a container=main" in str(caught.value)


@pytest.mark.parametrize("params, words", [
    (dict(state="to_pod", through="user"), "goes through a helper pod"),
    (dict(state="from_pod", through="helper", container="main"), "of a claim's user to read through (through=user)"),
])
def test_what_a_copy_through_a_user_refuses(tmp_path, params, words):
    base = dict(namespace="ns", pvc="data", pod=None, remote_path="/", local_path=str(tmp_path), exclude=[],
                preserve_owner=True, helper_image="i", helper_start_timeout=1, timeout=1, container=None)
    with pytest.raises(InvalidInput) as caught:
        pv_copy.run(None, _Pods([_user()]), dict(base, **params), False)
    assert words in str(caught.value) and "kind=PersistentVolumeClaim name=data" in str(caught.value)


def test_target_location():
    target = copy_target.Target("ns", "p", "c", "/data")
    assert target.location() == {"namespace": "ns", "pod": "p", "container": "c", "path": "/data"}
    assert target.location("x/y")["path"] == "/data/x/y"


def test_build_tar_refuses_an_unsafe_source_it_was_handed(tmp_path):
    """Even if a listing slipped past check_source_tree, nothing unsafe goes to the pod."""
    listing = {"l": mirror.Entry("symlink", 0, 0, 0o777, 0, 0, "/etc"),
               "l/x": mirror.Entry("file", 0, 0, 0o644, 0, 0, None)}
    with pytest.raises(UnsafeArchive):
        copy_send.build_tar(io.BytesIO(), str(tmp_path), listing)


def _writer_threads():
    import threading
    return [t for t in threading.enumerate() if t.name == "statesafe-file-writer"]


class TestStreamCutDiagnostics:
    """A cut tar stream says how far it got and whether the exec's exit status came."""

    TARGET = copy_target.Target("ns", "pod-1", "box", "/data")

    def fetch_over(self, monkeypatch, tmp_path, wire, paths):
        import socket
        import threading
        from test_exec_session import _FakeWebSocket

        client, server = socket.socketpair()

        def serve():
            server.recv(65536)  # the file list first, as the pod's head -c reads it before tar starts
            server.sendall(wire)
            server.shutdown(socket.SHUT_WR)
            while server.recv(65536):  # swallow the file list the client sends
                pass

        thread = threading.Thread(target=serve)
        thread.start()

        def fake_open(_client, namespace, pod, _command, container=None, **_kwargs):
            return copy_receive.ExecSession(_FakeWebSocket(client), "v5.channel.k8s.io",
                                            dict(namespace=namespace, pod=pod, container=container))

        monkeypatch.setattr(copy_receive.ExecSession, "open", staticmethod(fake_open))
        try:
            with pytest.raises(StreamError) as caught:
                copy_receive.fetch(None, self.TARGET, paths, str(tmp_path), 60, None)
        finally:
            client.close()
            thread.join()
            server.close()
        return caught.value

    @staticmethod
    def stdout(data):
        from test_exec_session import frame
        return b"".join(frame(b"\x01" + data[i:i + 4096]) for i in range(0, len(data), 4096))

    def test_cut_inside_a_file_without_exit_status(self, monkeypatch, tmp_path):
        data = archive(member("a", data=b"x" * 1000), member("b", data=b"y" * 5000))
        cut = data[:512 + 1024 + 512 + 3000]  # a complete, 3000 bytes of b's 5000
        error = self.fetch_over(monkeypatch, tmp_path, self.stdout(cut), ["a", "b"])
        text = str(error)
        assert "1 of 2 files complete" in text
        assert "{0} bytes of tar stream received".format(len(cut)) in text
        assert "last path being written: b (" in text
        assert "the exec exit status did not arrive" in text
        assert error.location == {"namespace": "ns", "pod": "pod-1", "container": "box", "path": "/data/b"}
        details = error.result_fields()["stream"]
        assert details["status_arrived"] is False
        assert details["stdout_bytes"] == len(cut)
        assert details["files_complete"] == 1 and details["files_expected"] == 2
        assert details["last_path"] == "b"
        assert not _writer_threads(), "the staging writer ended with the stream"

    def test_missing_files_with_a_zero_exit_status(self, monkeypatch, tmp_path):
        from test_exec_session import SUCCESS, frame
        data = archive(member("a", data=b"x" * 10))
        error = self.fetch_over(monkeypatch, tmp_path, self.stdout(data) + frame(b"\x03" + SUCCESS), ["a", "b"])
        text = str(error)
        assert "1 of 2 files missing, first b" in text
        assert "last path written: a (complete" in text
        assert "the exec exit status arrived: " in text and '"Success"' in text
        assert error.result_fields()["stream"]["status_arrived"] is True
        assert error.location["path"] == "/data/a"

    def test_no_file_started(self):
        progress = copy_receive.TarProgress(3)
        diagnostics = {"stdout_bytes": 0, "status_arrived": False, "closed_by_server": True, "close_code": 1006}
        error = copy_receive.stream_cut_error(StreamError("no tar stream arrived"), self.TARGET, progress,
                                              diagnostics, "tar: oops")
        text = str(error)
        assert "0 of 3 files complete" in text and "no file had started" in text
        assert "closed by the server, close code 1006" in text
        assert "pod stderr: tar: oops" in text
        assert error.location["path"] == "/data"


# -- a stream whose tail was lost after the pod reported success -------------------------

_SUCCESS = '{"metadata":{},"status":"Success"}'


def _cut(status_arrived=True, status=_SUCCESS):
    details = {"status_arrived": status_arrived, "status": status if status_arrived else None}
    return StreamCut("tar stream ended early", details=details)


def test_lost_tail_only_when_the_pod_said_success():
    assert _cut().lost_tail
    assert not _cut(status_arrived=False).lost_tail
    assert not _cut(status='{"status":"Failure","reason":"NonZeroExitCode"}').lost_tail
    assert not StreamCut("no details").lost_tail


def test_fetch_retrying_never_repeats_a_stream_error_that_is_no_cut(tmp_path):
    calls = []

    def fetch_once(paths, directory):
        calls.append(directory)
        raise StreamError("data after the end of the tar archive")

    with pytest.raises(StreamError, match="data after the end"):
        copy_receive.fetch_retrying(fetch_once, ["a"], str(tmp_path))
    assert len(calls) == 1


def test_fetch_retrying_repeats_a_lost_tail_in_a_fresh_directory(tmp_path):
    attempts = []

    def fetch_once(paths, directory):
        attempts.append(directory)
        (Path(directory) / "0").write_bytes(b"partial")
        if len(attempts) < 3:
            raise _cut()
        return {"a": "received"}

    received, retries = copy_receive.fetch_retrying(fetch_once, ["a"], str(tmp_path))
    assert received == {"a": "received"} and retries == 2
    assert len(set(attempts)) == 3
    assert [p.name for p in tmp_path.iterdir()] == ["attempt-2"], "failed attempts' files are removed"


def test_fetch_retrying_gives_up_after_the_last_retry(tmp_path):
    calls = []

    def fetch_once(paths, directory):
        calls.append(directory)
        raise _cut()

    with pytest.raises(StreamError, match="ended early"):
        copy_receive.fetch_retrying(fetch_once, ["a"], str(tmp_path), retries=2)
    assert len(calls) == 3


def test_fetch_retrying_never_repeats_other_failures(tmp_path):
    calls = []

    def fetch_once(paths, directory):
        calls.append(directory)
        raise _cut(status_arrived=False)

    with pytest.raises(StreamError):
        copy_receive.fetch_retrying(fetch_once, ["a"], str(tmp_path))
    assert len(calls) == 1


CHANGED = FileChangedWhileRead(
    "tar in the pod failed with rc 1: tar: version-2/log.13b: file changed as we read it", rc=1,
    stderr="tar: version-2/log.13b: file changed as we read it", namespace="ns", pod="zk-0", path="/data")


def _passes(monkeypatch, outcomes):
    """copy_from_pod with each pass replaced by the next outcome (an exception to raise, or a summary)."""
    calls = []

    def once(*args):
        calls.append(args[-1])  # the pass's changed_retries
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return dict(outcome, changed_retries=args[-1])

    monkeypatch.setattr(pv_copy.K8SCopyFromPod, "copy_once", once)
    return calls


class TestChangedDuringCopy:
    @pytest.mark.parametrize("rc, stderr, started, expected", [
        (1, "tar: version-2/log.13b: file changed as we read it", True, FileChangedWhileRead),
        (1, "tar: x: File removed before we read it", True, FileChangedWhileRead),
        (2, "tar: x: Cannot stat: No such file or directory", True, FileChangedWhileRead),
        (2, "tar: x: Cannot open: Permission denied", True, ExecFailed),
        (137, "file changed as we read it", True, ExecFailed),
        (None, "file changed as we read it", False, ExecFailed),
    ])
    def test_which_tar_failures_mean_a_file_changed(self, rc, stderr, started, expected):
        status = ExitStatus(rc, "failed", started=started)
        error = copy_target.exec_failure(copy_target.Target("ns", "zk-0", None, "/data"), "tar in the pod", status,
                                         io.BytesIO(stderr.encode()))
        assert isinstance(error, expected)
        assert isinstance(error, FileChangedWhileRead) == (expected is FileChangedWhileRead)
        assert error.rc == rc and error.stderr == stderr and error.location["pod"] == "zk-0"
        if started:
            assert str(error).startswith("tar in the pod failed with rc {0}: {1}".format(rc, stderr))

    @pytest.mark.parametrize("exc", [
        ChecksumMismatch("sha256 mismatch: pod has a, received b (3 bytes)", path="x"),
        ChecksumMismatch("the pod reported no checksum for the file", path="x"),
    ])
    def test_a_checksum_mismatch_is_repeated_too(self, monkeypatch, exc):
        calls = _passes(monkeypatch, [exc, {"changed": True}])
        assert pv_copy.K8SCopyFromPod(None, None, "/m", timeout=10).run()["changed_retries"] == 1
        assert calls == [0, 1]

    def test_a_stream_cut_or_a_failed_verification_is_not_repeated(self, monkeypatch):
        for exc in (StreamCut("tar stream ended early"), VerificationFailed("bad", path="x")):
            calls = _passes(monkeypatch, [exc, {"changed": True}])
            with pytest.raises(type(exc)):
                pv_copy.K8SCopyFromPod(None, None, "/m", timeout=10).run()
            assert calls == [0]

    def test_a_pass_the_pod_wrote_into_is_repeated(self, monkeypatch):
        calls = _passes(monkeypatch, [CHANGED, {"changed": True}])
        result = pv_copy.K8SCopyFromPod(None, None, "/m", timeout=10).run()
        assert calls == [0, 1] and result["changed_retries"] == 1

    def test_a_file_that_keeps_changing_fails_after_the_retries_naming_it(self, monkeypatch):
        failure = FileChangedWhileRead(CHANGED.message, rc=1, stderr=CHANGED.stderr, namespace="ns", pod="zk-0", path="/data")
        calls = _passes(monkeypatch, [failure] * 5)
        with pytest.raises(ExecFailed) as raised:
            pv_copy.K8SCopyFromPod(None, None, "/m", timeout=10).run()
        assert calls == [0, 1, 2]
        assert "version-2/log.13b: file changed as we read it" in str(raised.value)
        assert "kept changing while they were copied (3 attempts)" in str(raised.value)
        assert "pod=zk-0" in str(raised.value)

    def test_other_failures_are_never_repeated(self, monkeypatch):
        denied = ExecFailed("tar in the pod failed with rc 2: Permission denied", rc=2, stderr="Permission denied")
        calls = _passes(monkeypatch, [denied, {"changed": True}])
        with pytest.raises(ExecFailed, match="Permission denied"):
            pv_copy.K8SCopyFromPod(None, None, "/m", timeout=10).run()
        assert calls == [0]
