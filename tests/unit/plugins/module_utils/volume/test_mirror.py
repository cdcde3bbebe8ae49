from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import subprocess

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.errors import StreamError, UnsafeArchive

E = mirror.Entry


def f(size=1, mtime=100, mode=0o644, uid=0, gid=0):
    return E("file", size, mtime, mode, uid, gid, None)


def d(mode=0o755, uid=0, gid=0):
    return E("dir", 0, 100, mode, uid, gid, None)


def link(target):
    return E("symlink", 0, 100, 0o777, 0, 0, target)


def find_record(ftype, size, mtime, mode, uid, gid, path, link=b""):
    return b"\x00".join([ftype, size, mtime, mode, uid, gid, path, link]) + b"\x00"


class TestParseFindListing:
    def test_types_and_fields(self):
        data = (find_record(b"d", b"4096", b"1700000000.5", b"755", b"0", b"0", b"dir")
                + find_record(b"f", b"12", b"1700000001.9999999990", b"640", b"999", b"998", b"dir/file")
                + find_record(b"l", b"4", b"1700000002.0", b"777", b"0", b"0", b"ln", b"dir/file")
                + find_record(b"s", b"0", b"1.0", b"755", b"0", b"0", b"mysql.sock"))
        listing = mirror.parse_find_listing(data)
        assert listing == {
            "dir": E("dir", 0, 1700000000, 0o755, 0, 0, None),
            "dir/file": E("file", 12, 1700000001, 0o640, 999, 998, None),
            "ln": E("symlink", 0, 1700000002, 0o777, 0, 0, "dir/file"),
            "mysql.sock": E("other", 0, 1, 0o755, 0, 0, None),
        }

    def test_odd_names_survive(self):
        names = [b"new\nline", b"tab\there", b"\xff\xfe-latin1", b"-dash", b"sp ace"]
        data = b"".join(find_record(b"f", b"1", b"1.0", b"644", b"0", b"0", n) for n in names)
        listing = mirror.parse_find_listing(data)
        assert sorted(mirror.encode_name(k) for k in listing) == sorted(names)

    def test_empty(self):
        assert mirror.parse_find_listing(b"") == {}

    @pytest.mark.parametrize("data", [
        find_record(b"f", b"1", b"1.0", b"644", b"0", b"0", b"a")[:-1],   # cut before the last NUL
        find_record(b"f", b"1", b"1.0", b"644", b"0", b"0", b"a")[:-3] + b"\x00",  # fields missing
        find_record(b"f", b"x", b"1.0", b"644", b"0", b"0", b"a"),
        find_record(b"f", b"1", b"1.0", b"9z", b"0", b"0", b"a"),
    ])
    def test_cut_or_garbled_listing(self, data):
        with pytest.raises(StreamError):
            mirror.parse_find_listing(data)

    @pytest.mark.parametrize("name", [b"../escape", b"/abs"])
    def test_hostile_names(self, name):
        with pytest.raises(UnsafeArchive):
            mirror.parse_find_listing(find_record(b"f", b"1", b"1.0", b"644", b"0", b"0", name))


class TestScanLocal:
    def test_matches_lstat_and_skips_reserved(self, tmp_path):
        (tmp_path / "d").mkdir(mode=0o750)
        (tmp_path / "d" / "f").write_bytes(b"abc")
        os.symlink("d/f", str(tmp_path / "ln"))
        os.mkfifo(str(tmp_path / "pipe"))
        (tmp_path / ".statesafe-incoming-x").mkdir()
        os.chmod(str(tmp_path / "d"), 0o750)
        listing = mirror.scan_local(str(tmp_path))
        assert set(listing) == {"d", "d/f", "ln", "pipe"}
        assert listing["d"].type == "dir" and listing["d"].mode == 0o750
        assert listing["d/f"].size == 3 and listing["d/f"].type == "file"
        assert listing["ln"] == E("symlink", 0, listing["ln"].mtime, listing["ln"].mode, os.getuid(), os.getgid(), "d/f")
        assert listing["pipe"].type == "other"

    def test_missing_root_is_empty(self, tmp_path):
        assert mirror.scan_local(str(tmp_path / "nope")) == {}

    def test_exclusions_prune(self, tmp_path):
        (tmp_path / "lost+found").mkdir()
        (tmp_path / "lost+found" / "x").write_text("x")
        (tmp_path / "keep").write_text("x")
        listing = mirror.scan_local(str(tmp_path), mirror.exclusion_matcher(["lost+found"]))
        assert set(listing) == {"keep"}


class TestExclusion:
    @pytest.mark.parametrize("patterns, path, excluded", [
        (["lost+found"], "lost+found", True),
        (["lost+found"], "lost+found/deep/file", True),
        (["lost+found"], "data/lost+found", True),
        (["*.sock"], "run/mysqld.sock", True),
        (["*.sock"], "run/mysqld.socket", False),
        (["tmp/*"], "tmp/x", True),
        (["tmp/*"], "tmp/x/y", True),
        (["tmp/*"], "a/tmp/x", False),
        (["/tmp/"], "tmp", True),
        (["a/b"], "a/b/c", True),
        (["a/b"], "a/bc", False),
    ])
    def test_matcher(self, patterns, path, excluded):
        assert mirror.exclusion_matcher(patterns)(path) is excluded

    def test_no_patterns(self):
        assert mirror.exclusion_matcher([]) is None
        assert mirror.exclusion_matcher(["", "/"]) is None
        assert mirror.filter_listing({"a": f()}, None) == {"a": f()}
        assert mirror.filter_listing({"a": f(), "b": f()}, lambda p: p == "a") == {"b": f()}


class TestPlan:
    def test_identical_trees_need_nothing(self):
        tree = {"d": d(), "d/a": f(), "l": link("d/a")}
        plan = mirror.plan_mirror(tree, dict(tree))
        assert not plan.changed and plan.unchanged == 1

    def test_fresh_destination(self):
        plan = mirror.plan_mirror({"d": d(), "d/e": d(), "d/e/a": f(10), "b": f(5), "l": link("b")}, {})
        assert plan.mkdirs == ["d", "d/e"]
        assert plan.transfer == ["b", "d/e/a"] and plan.transfer_bytes == 15
        assert plan.links == ["l"] and plan.remove == []

    @pytest.mark.parametrize("have, transfer", [
        (f(size=2), True),
        (f(mtime=101), True),
        (f(mode=0o600), False),
        (f(uid=5), False),
        (f(), False),
    ])
    def test_file_comparison(self, have, transfer):
        plan = mirror.plan_mirror({"a": f()}, {"a": have})
        assert (plan.transfer == ["a"]) is transfer
        if have.mode != 0o644 and not transfer:
            assert plan.chmods == ["a"]

    def test_owner_compared_only_when_asked(self):
        assert mirror.plan_mirror({"a": f()}, {"a": f(uid=5)}, compare_owner=True).chowns == ["a"]
        assert mirror.plan_mirror({"a": f()}, {"a": f(uid=5)}).chowns == []

    def test_removals_are_top_level_only(self):
        plan = mirror.plan_mirror({"keep": f()}, {"keep": f(), "gone": d(), "gone/x": f(), "gone/y/z": f(),
                                                  "old": f()})
        assert plan.remove == ["gone", "old"]

    def test_type_changes(self):
        source = {"was-dir": f(), "was-file": d(), "was-file/in": f(), "was-link": f(), "was-file2": link("keep")}
        dest = {"was-dir": d(), "was-dir/x": f(), "was-file": f(), "was-link": link("x"), "was-file2": f()}
        plan = mirror.plan_mirror(source, dest)
        assert plan.remove == ["was-dir", "was-file", "was-file2", "was-link"]
        assert plan.mkdirs == ["was-file"]
        assert plan.transfer == ["was-dir", "was-file/in", "was-link"]
        assert plan.links == ["was-file2"]

    def test_link_retarget(self):
        plan = mirror.plan_mirror({"l": link("a")}, {"l": link("b")})
        assert plan.links == ["l"] and plan.remove == ["l"]

    def test_special_files_ignored_and_removed_locally(self):
        other = E("other", 0, 1, 0o755, 0, 0, None)
        plan = mirror.plan_mirror({"sock": other}, {"sock": f()})
        assert plan.ignored == ["sock"] and plan.remove == ["sock"] and not plan.transfer

    def test_dir_modes_keep_owner_bits(self):
        plan = mirror.plan_mirror({"d": d(mode=0o500)}, {"d": d(mode=0o700)})
        assert plan.chmods == []
        assert mirror.wanted_mode(d(mode=0o055)) == 0o755
        assert mirror.wanted_mode(f(mode=0o4755)) == 0o755

    @pytest.mark.parametrize("target", ["/etc/passwd", "../../x"])
    def test_unsafe_source_link_refused(self, target):
        with pytest.raises(UnsafeArchive):
            mirror.plan_mirror({"l": link(target)}, {})

    def test_summary(self):
        plan = mirror.plan_mirror({"a": f(3)}, {"b": f()})
        assert plan.summary() == {"transfer": 1, "transfer_bytes": 3, "mkdirs": 0, "links": 0, "chmods": 0,
                                  "chowns": 0, "remove": 1, "ignored": 0, "unchanged": 0}


@pytest.mark.parametrize("paths, top", [
    ([], []),
    (["a", "a/b", "a/b/c", "ab", "b/c"], ["a", "ab", "b/c"]),
    (["a-b", "a/b", "a"], ["a", "a-b"]),
])
def test_top_level(paths, top):
    assert mirror.top_level(paths) == top


class TestChecksums:
    def test_parse_sha256sum_z(self):
        data = b"a" * 64 + b"  x\nnew\x00" + b"B" * 64 + b"  ./y\x00"
        assert mirror.parse_sha256sum_z(data) == {"x\nnew": "a" * 64, "y": "b" * 64}
        assert mirror.parse_sha256sum_z(b"") == {}

    @pytest.mark.parametrize("data", [b"a" * 64 + b"  x", b"short  x\x00", b"a" * 64 + b" x\x00"])
    def test_parse_cut(self, data):
        with pytest.raises(StreamError):
            mirror.parse_sha256sum_z(data)

    def test_manifest_is_accepted_by_real_sha256sum(self, tmp_path):
        import hashlib
        names = ["plain", "sp ace", "new\nline", "back\\slash", "-dash", "d/deep"]
        (tmp_path / "d").mkdir()
        sums = {}
        for name in names:
            content = name.encode() * 3
            (tmp_path / name).write_bytes(content)
            sums[name] = hashlib.sha256(content).hexdigest()
        (tmp_path / "MANIFEST").write_bytes(mirror.sha256sum_manifest(sums))
        ok = subprocess.run(["sha256sum", "--quiet", "--strict", "-c", "MANIFEST"], cwd=str(tmp_path),
                            capture_output=True, check=False, timeout=120)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        (tmp_path / "sp ace").write_bytes(b"tampered")
        bad = subprocess.run(["sha256sum", "--quiet", "--strict", "-c", "MANIFEST"], cwd=str(tmp_path),
                             capture_output=True, check=False, timeout=120)
        assert bad.returncode != 0 and b"sp ace: FAILED" in bad.stdout

    def test_reserved_names_refused_in_source(self):
        with pytest.raises(UnsafeArchive):
            mirror.check_source_tree({".statesafe-manifest": f()})
        with pytest.raises(UnsafeArchive):
            mirror.check_source_tree({"l": link("/abs")})
        mirror.check_source_tree({"a": f(), "l": link("a")})


@pytest.mark.parametrize("raw, seconds", [
    (b"1700000000", 1700000000),
    (b"1700000000.0000000000", 1700000000),
    (b"1700000001.9999999990", 1700000001),
    (b"-1.5", -2),
    (b"-1.000", -1),
])
def test_parse_mtime_floors_without_float_rounding(raw, seconds):
    assert mirror.parse_mtime(raw) == seconds


def test_local_mtime_matches_find(tmp_path):
    path = tmp_path / "x"
    path.write_text("x")
    os.utime(str(path), ns=(1700000001999999999, 1700000001999999999))
    out = subprocess.run(["find", str(path), "-printf", "%T@"], capture_output=True, check=True, timeout=120).stdout
    assert mirror.local_mtime(os.lstat(str(path))) == mirror.parse_mtime(out) == 1700000001
