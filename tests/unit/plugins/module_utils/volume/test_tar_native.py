"""tar_native: our header checks in front of a real GNU tar (no mock: tar runs)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import io
import os
import tarfile

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.volume import receive as copy_receive
from ansible_collections.statesafe.backup.plugins.module_utils.volume import tar_native
from ansible_collections.statesafe.backup.plugins.module_utils.errors import StreamError, UnsafeArchive

from tarbuild import archive, member

pytestmark = pytest.mark.skipif(tar_native.gnu_tar() is None, reason="GNU tar is not installed")


class ShortReads(object):
    """A stream that returns at most `step` bytes per read, like an exec stream's frames."""

    def __init__(self, data, step):
        self._data, self._pos, self._step = data, 0, step

    def read(self, size=-1):
        size = self._step if size < 0 else min(size, self._step)
        out = self._data[self._pos:self._pos + size]
        self._pos += len(out)
        return out


def receive(data, expected, directory, step=None, **kwargs):
    stream = io.BytesIO(data) if step is None else ShortReads(data, step)
    return tar_native.receive(stream, expected, str(directory), **kwargs)


def leftovers(directory):
    return sorted(os.path.relpath(os.path.join(d, f), str(directory))
                  for d, dirs, files in os.walk(str(directory)) for f in files + dirs)


class TestHeaders:
    @pytest.mark.parametrize("name", ["a", "dir/sub/file.bin", "x" * 100, "long/" + "y" * 300, "caf\xe9/\u00e9t\u00e9"])
    @pytest.mark.parametrize("size", [0, 1, 511, 512, 513])
    def test_our_headers_read_back_by_tarfile(self, name, size):
        raw = name.encode("utf-8")
        data = os.urandom(size)
        stream = tar_native.file_header(raw, 0o640, 1000, 1001, size, 1700000000) + data + tar_native.padding(size)
        with tarfile.open(fileobj=io.BytesIO(stream + b"\0" * 1024), mode="r|") as tar:
            info = tar.next()
            assert (info.name, info.mode, info.uid, info.gid, info.size, info.mtime) == (
                name, 0o640, 1000, 1001, size, 1700000000)
            assert info.isreg()
            assert tar.extractfile(info).read() == data

    @pytest.mark.parametrize("value", [0, 7, 8 ** 11 - 1, 8 ** 11, 2 ** 40, -1, -2 ** 31])
    def test_numbers_that_need_base_256(self, value):
        assert tar_native._number(tar_native._field(value, 12)) == value

    def test_tarfile_headers_parse(self):
        data = archive(member("a/b", data=b"hello", mode=0o4755, mtime=1600000000, uid=7, gid=8))
        header = tar_native.parse_header(data[:512])
        assert (header.name, header.mode, header.uid, header.gid, header.size, header.mtime, header.type) == (
            b"a/b", 0o4755, 7, 8, 5, 1600000000, b"0")

    def test_a_flipped_byte_fails_the_checksum(self):
        block = bytearray(archive(member("a", data=b"x"))[:512])
        block[10] ^= 1
        with pytest.raises(StreamError, match="checksum"):
            tar_native.parse_header(bytes(block))

    def test_posix_prefix_is_part_of_the_name(self):
        out = io.BytesIO()
        name = "p" * 90 + "/" + "q" * 60
        with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
            info = tarfile.TarInfo(name)
            tar.addfile(info, io.BytesIO(b""))
        assert tar_native.parse_header(out.getvalue()[:512]).name == name.encode()


class TestReceive:
    @pytest.mark.parametrize("step", [None, 1, 700, 4096])
    def test_files_land_under_their_names_with_metadata(self, tmp_path, step):
        big = os.urandom(3 * 1024 * 1024 + 5)
        members = [member("a/b.txt", data=b"hello", mode=0o4640, mtime=1600000000),
                   member("c", data=b"", mode=0o600),
                   member("deep/" + "n" * 150, data=b"long name", mode=0o644),
                   member("big.bin", data=big, mode=0o755, mtime=1600000001)]
        if step == 1:
            members = members[:3]  # byte at a time through 3 MiB is slow; the small members are enough
        data = archive(*members)
        expected = [info.name for info, _data in members]
        got = receive(data, expected, tmp_path, step=step)
        assert sorted(got) == sorted(expected)
        ab = got["a/b.txt"]
        assert ab.staged == str(tmp_path / "a" / "b.txt")
        assert (ab.size, ab.mtime, ab.mode) == (5, 1600000000, 0o640), "set-id bits are not recreated"
        assert ab.sha256 == hashlib.sha256(b"hello").hexdigest()
        st = os.stat(ab.staged)
        assert (st.st_mode & 0o7777, st.st_mtime) == (0o640, 1600000000)
        assert open(ab.staged, "rb").read() == b"hello"
        assert os.path.getsize(got["c"].staged) == 0
        assert open(got["deep/" + "n" * 150].staged, "rb").read() == b"long name"
        if step != 1:
            assert open(got["big.bin"].staged, "rb").read() == big
            assert got["big.bin"].sha256 == hashlib.sha256(big).hexdigest()

    HOSTILE = {
        "absolute": (member("/tmp/evil", data=b"x"), UnsafeArchive),
        "traversal": (member("../evil", data=b"x"), UnsafeArchive),
        "symlink": (member("a", "symlink", link="/etc"), UnsafeArchive),
        "dir": (member("a", "dir"), UnsafeArchive),
        "device": (member("a", "chr"), UnsafeArchive),
        "fifo": (member("a", "fifo"), UnsafeArchive),
        "hardlink": (member("a", "hardlink", link="/etc/passwd"), UnsafeArchive),
        "not-requested": (member("other", data=b"x"), UnsafeArchive),
    }

    @pytest.mark.parametrize("case", sorted(HOSTILE))
    def test_refuses_anything_not_requested_and_writes_nothing(self, tmp_path, case):
        item, error = self.HOSTILE[case]
        with pytest.raises(error):
            receive(archive(item), ["a"], tmp_path)
        assert leftovers(tmp_path) == []

    def test_a_pax_header_is_refused_not_passed_on(self, tmp_path):
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("a")
            info.pax_headers = {"path": "../../escaped"}
            tar.addfile(info, io.BytesIO(b""))
        with pytest.raises(UnsafeArchive, match="type"):
            receive(out.getvalue(), ["a"], tmp_path)
        assert leftovers(tmp_path) == []

    def test_symlink_then_file_through_it(self, tmp_path):
        data = archive(member("d", "symlink", link="/tmp"), member("d/x", data=b"x"))
        with pytest.raises(UnsafeArchive):
            receive(data, ["d", "d/x"], tmp_path)
        assert leftovers(tmp_path) == []

    def test_duplicate_member(self, tmp_path):
        with pytest.raises(UnsafeArchive, match="twice"):
            receive(archive(member("a", data=b"1"), member("a", data=b"2")), ["a"], tmp_path)

    def test_missing_files_even_with_a_clean_end(self, tmp_path):
        with pytest.raises(StreamError, match="1 of 2 files missing, first b"):
            receive(archive(member("a", data=b"1")), ["a", "b"], tmp_path)

    @pytest.mark.parametrize("keep", [0, 100, 512, 700, 1500, 2047])
    def test_truncated_streams(self, tmp_path, keep):
        data = archive(member("a", data=b"x" * 1000), member("b", data=b"y" * 10))
        with pytest.raises(StreamError):
            receive(data[:keep], ["a", "b"], tmp_path)

    def test_cut_inside_a_big_file_says_how_far(self, tmp_path):
        data = archive(member("big", data=b"z" * (3 * 1024 * 1024)))
        progress = copy_receive.TarProgress(1)
        with pytest.raises(StreamError, match=r"\(2097252 of 3145728 bytes\)"):
            receive(data[:512 + 2 * 1024 * 1024 + 100], ["big"], tmp_path, progress=progress)
        assert progress.path == "big" and not progress.path_done

    def test_a_long_name_without_its_member(self, tmp_path):
        data = archive(member("n" * 200, data=b"x"))
        with pytest.raises(StreamError):
            receive(data[:1024], ["n" * 200], tmp_path)

    def test_empty_expectation_accepts_empty_stream(self, tmp_path):
        assert receive(b"", [], tmp_path) == {}

    def test_tar_failure_is_an_os_error_naming_the_directory(self, tmp_path):
        blocker = tmp_path / "a"
        blocker.mkdir()
        (blocker / "keep").write_bytes(b"x")  # tar cannot replace a non-empty directory with a file
        with pytest.raises(OSError) as err:
            receive(archive(member("a", data=b"1")), ["a"], tmp_path)
        assert str(tmp_path) in str(err.value) and "tar could not extract" in str(err.value)

    def test_a_short_write_is_reported_as_a_full_disk(self, tmp_path, monkeypatch):
        script = tmp_path / "fake-tar"  # GNU tar's own message for a write the filesystem cut short
        script.write_text("#!/bin/sh\ncat >/dev/null\necho 'tar: a: Wrote only 6656 of 10240 bytes' >&2\nexit 2\n")
        script.chmod(0o755)
        with pytest.raises(OSError) as err:
            receive(archive(member("a", data=b"1")), ["a"], tmp_path, tar=str(script))
        assert err.value.errno == 28 and "No space left on device" in str(err.value), str(err.value)

    def test_no_tar_process_left_behind(self, tmp_path):
        with pytest.raises(StreamError):
            receive(archive(member("a", data=b"x" * 1000))[:700], ["a"], tmp_path)
        children = os.popen("ps -o comm= --ppid {0}".format(os.getpid())).read().split()
        assert "tar" not in children
