"""The in-pod shell scripts, run here with the same GNU tools the helper image has.

This exercises the scripts and the Python side that parses their output
(listing, tar stream, checksums, restore swap) end to end, without a cluster.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import os
import shutil
import subprocess

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.volume import pod_scripts as scripts
from ansible_collections.statesafe.backup.plugins.module_utils.volume import apply as copy_apply
from ansible_collections.statesafe.backup.plugins.module_utils.volume import receive as copy_receive
from ansible_collections.statesafe.backup.plugins.module_utils.volume import send as copy_send
from ansible_collections.statesafe.backup.plugins.module_utils.errors import StreamError, VerificationFailed

pytestmark = pytest.mark.skipif(shutil.which("tar") is None or shutil.which("sha256sum") is None,
                                reason="needs GNU tar and coreutils")


def run(script, *args, stdin=b""):
    return subprocess.run(scripts.command(script, *args), input=stdin, capture_output=True, check=False, timeout=120)


def make_tree(root):
    os.makedirs(os.path.join(root, "db", "sub"))
    files = {
        "db/ibdata1": os.urandom(300000),
        "db/sub/t1.frm": b"frm" * 10,
        "db/empty": b"",
        "top.cnf": b"[mysqld]\n",
        "sp ace & 'quote'": b"odd name",
        "new\nline": b"newline in name",
        "-leading-dash": b"dash",
    }
    for rel, data in files.items():
        with open(os.path.join(root, rel), "wb") as handle:
            handle.write(data)
    os.symlink("db/ibdata1", os.path.join(root, "link"))
    os.mkfifo(os.path.join(root, "fifo"))
    os.chmod(os.path.join(root, "top.cnf"), 0o600)
    for rel in files:
        os.utime(os.path.join(root, rel), (1700000000, 1700000000))
    return files


def tree_state(root):
    """Comparable view of a tree: type, content hash, mode, mtime, link target."""
    state = {}
    for rel, entry in mirror.scan_local(root).items():
        digest = None
        if entry.type == "file":
            with open(os.path.join(root, rel), "rb") as handle:
                digest = hashlib.sha256(handle.read()).hexdigest()
        state[rel] = (entry.type, digest, entry.link, entry.mtime if entry.type == "file" else None)
    return state


class TestListScript:
    def test_listing_parses(self, tmp_path):
        src = str(tmp_path / "src")
        files = make_tree(src)
        done = run(scripts.LIST, src)
        assert done.returncode == 0, done.stderr
        listing = mirror.parse_find_listing(done.stdout)
        assert listing == mirror.scan_local(src)
        assert set(files) <= set(listing)
        assert listing["fifo"].type == "other"
        assert listing["top.cnf"].mode == 0o600

    def test_missing_and_not_a_directory(self, tmp_path):
        assert run(scripts.LIST, str(tmp_path / "nope")).returncode == scripts.RC_NO_SUCH_PATH
        (tmp_path / "file").write_text("x")
        assert run(scripts.LIST, str(tmp_path / "file")).returncode == scripts.RC_NOT_A_DIRECTORY


def _list_bytes(paths):
    return b"".join(mirror.encode_name(p) + b"\x00" for p in paths)


class TestFromPodFlow:
    """LIST -> plan -> SEND_TAR -> receive -> SHA256 -> check -> apply, as copy_from_pod does."""

    def mirror_once(self, src, dst, staging):
        source = mirror.parse_find_listing(run(scripts.LIST, src).stdout)
        plan = mirror.plan_mirror(source, mirror.scan_local(dst))
        received = {}
        if plan.transfer:
            names = _list_bytes(sorted(plan.transfer))
            sent = run(scripts.SEND_TAR, src, len(names), stdin=names)
            assert sent.returncode == 0, sent.stderr
            received = copy_receive.receive(io.BytesIO(sent.stdout), plan.transfer, staging)
            sums = run(scripts.SHA256, src, len(names), stdin=names)
            assert sums.returncode == 0, sums.stderr
            copy_receive.check_received(received, mirror.parse_sha256sum_z(sums.stdout))
        os.makedirs(dst, exist_ok=True)
        copy_apply.apply_plan(dst, plan, source, received, staging, None)
        return plan

    def test_mirror_then_incremental(self, tmp_path):
        src, dst, staging = str(tmp_path / "src"), str(tmp_path / "dst"), str(tmp_path / "stage")
        os.makedirs(staging)
        make_tree(src)
        first = self.mirror_once(src, dst, staging)
        assert len(first.transfer) == 7 and first.ignored == ["fifo"]
        expected = tree_state(src)
        del expected["fifo"]
        assert tree_state(dst) == expected
        assert os.stat(os.path.join(dst, "top.cnf")).st_mode & 0o777 == 0o600

        untouched = os.stat(os.path.join(dst, "db", "ibdata1")).st_ino
        again = self.mirror_once(src, dst, staging)
        assert not again.changed and again.unchanged == 7

        with open(os.path.join(src, "db", "sub", "t1.frm"), "ab") as handle:
            handle.write(b"more")
        os.unlink(os.path.join(src, "top.cnf"))
        shutil.rmtree(os.path.join(src, "db", "sub"))
        os.makedirs(os.path.join(src, "db", "new"))
        (tmp_path / "src" / "db" / "new" / "f").write_bytes(b"new")
        third = self.mirror_once(src, dst, staging)
        assert third.transfer == ["db/new/f"]
        assert third.remove == ["db/sub", "top.cnf"]
        expected = tree_state(src)
        del expected["fifo"]
        assert tree_state(dst) == expected
        assert os.stat(os.path.join(dst, "db", "ibdata1")).st_ino == untouched, "unchanged file was rewritten"

    def test_checksum_mismatch_names_the_file(self, tmp_path):
        src, staging = str(tmp_path / "src"), str(tmp_path / "stage")
        os.makedirs(staging)
        make_tree(src)
        names = _list_bytes(["top.cnf"])
        sent = run(scripts.SEND_TAR, src, len(names), stdin=names)
        received = copy_receive.receive(io.BytesIO(sent.stdout), ["top.cnf"], staging)
        with open(os.path.join(src, "top.cnf"), "ab") as handle:
            handle.write(b"changed after the transfer")
        sums = run(scripts.SHA256, src, len(names), stdin=names)
        with pytest.raises(VerificationFailed) as caught:
            copy_receive.check_received(received, mirror.parse_sha256sum_z(sums.stdout))
        assert caught.value.location["path"] == "top.cnf"

    def test_vanished_file_fails_tar(self, tmp_path):
        src = str(tmp_path / "src")
        make_tree(src)
        names = _list_bytes(["gone", "top.cnf"])
        sent = run(scripts.SEND_TAR, src, len(names), stdin=names)
        assert sent.returncode != 0 and b"gone" in sent.stderr

    def test_short_list_input_is_not_waited_for(self, tmp_path):
        """head -c N returns after N bytes: no stdin EOF needed (v4 protocol)."""
        src = str(tmp_path / "src")
        make_tree(src)
        names = _list_bytes(["top.cnf"])
        proc = subprocess.Popen(scripts.command(scripts.SEND_TAR, src, len(names)), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        proc.stdin.write(names)
        proc.stdin.flush()  # stdin stays open
        out = proc.stdout.read()
        assert proc.wait(timeout=10) == 0
        proc.stdin.close()
        assert copy_receive.receive(io.BytesIO(out), ["top.cnf"], str(tmp_path))


class TestReceiveScript:
    def send(self, src, target, transform=None, same_owner="no"):
        listing = mirror.scan_local(src)
        out = io.BytesIO()
        sums = copy_send.build_tar(out, src, listing)
        data = out.getvalue()
        if transform:
            data = transform(data)
        done = run(scripts.RECEIVE_TAR, target, "abcd", same_owner, stdin=data)
        return done, sums

    def test_restore_into_existing_target_swaps_content(self, tmp_path):
        src, target = str(tmp_path / "src"), str(tmp_path / "target")
        make_tree(src)
        os.unlink(os.path.join(src, "fifo"))
        os.makedirs(os.path.join(target, "old-dir"))
        (tmp_path / "target" / ".hidden-old").write_text("old")
        done, sums = self.send(src, target)
        assert done.returncode == 0, done.stderr
        assert tree_state(target) == tree_state(src)
        assert len(sums) == 7
        assert not [n for n in os.listdir(target) if n.startswith(".statesafe-")]

    def test_restore_creates_missing_target(self, tmp_path):
        src, target = str(tmp_path / "src"), str(tmp_path / "deep" / "target")
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "f").write_text("x")
        done, _sums = self.send(src, target)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "deep" / "target" / "f").read_text() == "x"

    @pytest.mark.parametrize("cut", [0.3, 0.9])
    def test_truncated_stream_leaves_old_data(self, tmp_path, cut):
        src, target = str(tmp_path / "src"), str(tmp_path / "target")
        make_tree(src)
        os.unlink(os.path.join(src, "fifo"))
        os.makedirs(target)
        (tmp_path / "target" / "precious").write_text("old data")
        done, _sums = self.send(src, target, transform=lambda data: data[:int(len(data) * cut)])
        assert done.returncode in (scripts.RC_EXTRACT_FAILED, scripts.RC_VERIFY_FAILED), done.stderr
        assert sorted(os.listdir(target)) == ["precious"]
        assert (tmp_path / "target" / "precious").read_text() == "old data"

    def test_corrupted_content_fails_verification_naming_file(self, tmp_path):
        src, target = str(tmp_path / "src"), str(tmp_path / "target")
        os.makedirs(src)
        (tmp_path / "src" / "data.bin").write_bytes(b"A" * 5000)
        os.makedirs(target)
        (tmp_path / "target" / "precious").write_text("old")
        done, _sums = self.send(src, target, transform=lambda data: data.replace(b"A" * 100, b"B" * 100, 1))
        assert done.returncode == scripts.RC_VERIFY_FAILED
        assert copy_send.failed_files(done.stderr.decode()) == ["data.bin"]
        assert sorted(os.listdir(target)) == ["precious"]

    def test_refuses_relative_and_root_targets(self, tmp_path):
        assert run(scripts.RECEIVE_TAR, "relative", "x", "no").returncode == scripts.RC_BAD_TARGET
        assert run(scripts.RECEIVE_TAR, "/", "x", "no").returncode == scripts.RC_BAD_TARGET
        (tmp_path / "file").write_text("x")
        assert run(scripts.RECEIVE_TAR, str(tmp_path / "file"), "x", "no").returncode == scripts.RC_NOT_A_DIRECTORY

    def test_stream_error_when_tar_output_is_short(self, tmp_path):
        src = str(tmp_path / "src")
        make_tree(src)
        names = _list_bytes(["db/ibdata1", "top.cnf"])
        sent = run(scripts.SEND_TAR, src, len(names), stdin=names)
        with pytest.raises(StreamError):
            copy_receive.receive(io.BytesIO(sent.stdout[:150000]), ["db/ibdata1", "top.cnf"], str(tmp_path))


class TestNonRootHelper:
    """lost+found and unreadable files, as a helper running as the application's uid meets them."""

    def test_listing_and_check_leave_the_top_lost_and_found_alone(self, tmp_path):
        src = tmp_path / "vol"
        (src / "lost+found").mkdir(parents=True)
        (src / "lost+found" / "#123").write_bytes(b"x")
        (src / "sub" / "lost+found").mkdir(parents=True)  # only the top one is the filesystem's
        (src / "a").write_bytes(b"a")
        listing = mirror.parse_find_listing(run(scripts.LIST, str(src)).stdout)
        assert sorted(listing) == ["a", "sub", "sub/lost+found"]

    @pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
    def test_unreadable_names_what_another_uid_cannot_read(self):
        from ansible_collections.statesafe.backup.plugins.module_utils.volume import target
        import pathlib
        import tempfile
        top = tempfile.mkdtemp(dir="/tmp")  # pytest's tmp_path is private to root: uid 4321 must reach it
        src = pathlib.Path(top) / "vol"
        try:
            self._check_unreadable(target, src, pathlib.Path(top))
        finally:
            shutil.rmtree(top)

    def _check_unreadable(self, target, src, tmp_path):
        (src / "lost+found").mkdir(parents=True, mode=0o700)
        (src / "ok").write_bytes(b"ok")
        (src / "secret").write_bytes(b"s")
        os.chmod(src / "secret", 0o600)
        (src / "closed").mkdir(mode=0o700)
        (src / "closed" / "inside").write_bytes(b"i")
        for path in (src, src / "ok"):
            os.chmod(path, 0o755)
        os.chmod(tmp_path, 0o755)
        argv = ["setpriv", "--reuid", "4321", "--regid", "4321", "--clear-groups"] + scripts.command(
            scripts.UNREADABLE, str(src))
        done = subprocess.run(argv, capture_output=True, check=False, timeout=60)
        entries = target.parse_unreadable(done.stdout)
        assert sorted(entries) == [("closed", "0", "700"), ("secret", "0", "600")]
        message = target.unreadable_message(entries, "uid 4321")
        assert "2 file(s) or directories cannot be read by the copy running as uid 4321" in message
        assert "secret (uid 0, mode 600)" in message and "closed (uid 0, mode 700)" in message
        as_root = run(scripts.UNREADABLE, str(src))
        assert as_root.returncode == 0 and as_root.stdout == b""

    @pytest.mark.skipif(os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv")
    def test_unwritable_names_what_another_uid_cannot_replace(self):
        from ansible_collections.statesafe.backup.plugins.module_utils.volume import target
        import pathlib
        import tempfile
        top = pathlib.Path(tempfile.mkdtemp(dir="/tmp"))  # pytest's tmp_path is private to root
        try:
            os.chmod(top, 0o755)
            src = top / "vol"
            modes = {"closed": 0o755,  # not writable, not empty: its file cannot go
                     "hidden": 0o700,  # cannot even be listed
                     "emptyro": 0o555,  # removable all the same: rmdir needs only the parent
                     "open": 0o777}
            for name, mode in modes.items():
                (src / name).mkdir(parents=True)
                if name != "emptyro":
                    (src / name / "f").write_bytes(b"f")
                os.chmod(src / name, mode)  # not mkdir's mode, which the umask masks
            os.chmod(src, 0o777)
            as_other = ["setpriv", "--reuid", "4321", "--regid", "4321", "--clear-groups"]
            done = subprocess.run(as_other + scripts.command(scripts.UNWRITABLE, str(src)),
                                  capture_output=True, check=False, timeout=60)
            entries = target.parse_unreadable(done.stdout)
            assert sorted(entries) == [("closed", "0", "755"), ("hidden", "0", "700")]
            message = target.unwritable_message(entries, "uid 4321")
            assert message.startswith("2 directories cannot be emptied or written by the restore running as uid 4321")
            assert "closed (uid 0, mode 755)" in message and "nothing was written" in message
            os.chmod(src, 0o755)  # the root, where the new tree is built, must be writable even when empty
            done = subprocess.run(as_other + scripts.command(scripts.UNWRITABLE, str(src)),
                                  capture_output=True, check=False, timeout=60)
            assert ("", "0", "755") in target.parse_unreadable(done.stdout)
            assert ". (the root) (uid 0, mode 755)" in target.unwritable_message(target.parse_unreadable(done.stdout))
            as_root = run(scripts.UNWRITABLE, str(src))
            assert as_root.returncode == 0 and as_root.stdout == b""
        finally:
            shutil.rmtree(top)

    def test_unreadable_message_is_bounded(self):
        from ansible_collections.statesafe.backup.plugins.module_utils.volume import target
        entries = [("f{0}".format(i), "0", "600") for i in range(25)]
        message = target.unreadable_message(entries)
        assert "25 file(s)" in message and "f19 (uid 0" in message and "f20 (" not in message
        assert "and 5 more" in message

    def test_restore_swap_leaves_the_top_lost_and_found(self, tmp_path):
        dest = tmp_path / "dest"
        (dest / "lost+found").mkdir(parents=True)
        (dest / "lost+found" / "keep").write_bytes(b"k")
        (dest / "old").write_bytes(b"old")
        src = tmp_path / "src"
        src.mkdir()
        (src / "new").write_bytes(b"new")
        listing = mirror.scan_local(str(src))
        buf = io.BytesIO()
        copy_send.build_tar(buf, str(src), listing)
        done = run(scripts.RECEIVE_TAR, str(dest), "abcd", "no", stdin=buf.getvalue())
        assert done.returncode == 0, done.stderr
        assert sorted(os.listdir(dest)) == ["lost+found", "new"]
        assert (dest / "lost+found" / "keep").read_bytes() == b"k"


@pytest.mark.parametrize("stderr, expected", [
    ("find: './private': Permission denied\n", True),
    ("find: \u2018./private/sub\u2019: Permission denied\n", True),
    ("find: './other': Permission denied\n", False),
    ("find: './private': Permission denied\nfind: './other': Permission denied\n", False),
    ("find: './private': Input/output error\n", False),
    ("", False),
])
def test_only_excluded_directories_denied(stderr, expected):
    from ansible_collections.statesafe.backup.plugins.module_utils.volume import target
    assert target.only_excluded_denied(stderr, mirror.exclusion_matcher(["private"])) is expected
    assert target.only_excluded_denied(stderr, None) is False
