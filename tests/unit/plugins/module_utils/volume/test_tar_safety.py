from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.volume import tar_safety
from ansible_collections.statesafe.backup.plugins.module_utils.errors import UnsafeArchive

from tarbuild import member


@pytest.mark.parametrize("name, expected", [
    ("a", "a"), ("./a/b", "a/b"), ("a//b/./c", "a/b/c"), ("dir/", "dir"), ("..a/b..", "..a/b.."),
])
def test_check_relpath_normalises(name, expected):
    assert tar_safety.check_relpath(name) == expected


@pytest.mark.parametrize("name", ["/etc/passwd", "../x", "a/../../x", "a/..", ".", "./", "", "a\x00b"])
def test_check_relpath_refuses(name):
    with pytest.raises(UnsafeArchive):
        tar_safety.check_relpath(name)


@pytest.mark.parametrize("name, target", [
    ("a", "b"), ("d/a", "../b"), ("d/e/a", "../../b"), ("a", "./b/c"), ("d/a", "."),
])
def test_link_targets_inside(name, target):
    assert tar_safety.check_link_target(name, target) == target


@pytest.mark.parametrize("name, target", [
    ("a", "/etc/passwd"), ("a", ".."), ("d/a", "../../b"), ("a", "b/../../c"), ("a", ""),
])
def test_link_targets_outside_refused(name, target):
    with pytest.raises(UnsafeArchive):
        tar_safety.check_link_target(name, target)


SAFE_ARCHIVE = [
    member("dir", "dir"),
    member("dir/file", data=b"x"),
    member("dir/link", "symlink", link="file"),
    member("top-link", "symlink", link="dir/file"),
]


def test_safe_members_pass_in_order():
    checker = tar_safety.MemberChecker()
    assert [checker.check(info) for info, _data in SAFE_ARCHIVE] == [
        ("dir", "dir"), ("dir/file", "file"), ("dir/link", "symlink"), ("top-link", "symlink")]


HOSTILE = {
    "absolute": [member("/etc/cron.d/evil", data=b"x")],
    "traversal": [member("../../.ssh/authorized_keys", data=b"x")],
    "traversal-inside": [member("a/../../b", data=b"x")],
    "absolute-symlink": [member("link", "symlink", link="/etc")],
    "escaping-symlink": [member("d/link", "symlink", link="../../etc")],
    "symlink-then-file-through-it": [member("d", "symlink", link="."), member("d/x", data=b"x")],
    "symlink-dir-then-deeper-file": [member("a", "dir"), member("a/l", "symlink", link="."),
                                     member("a/l/b/c", data=b"x")],
    "file-then-symlink-replacing-it": [member("f", data=b"x"), member("f", "symlink", link="g")],
    "symlink-then-file-replacing-it": [member("f", "symlink", link="g"), member("f", data=b"x")],
    "hardlink": [member("f", data=b"x"), member("h", "hardlink", link="f")],
    "hardlink-outside": [member("h", "hardlink", link="/etc/shadow")],
    "char-device": [member("null", "chr")],
    "block-device": [member("sda", "blk")],
    "fifo": [member("pipe", "fifo")],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_members_refused(case):
    checker = tar_safety.MemberChecker()
    with pytest.raises(UnsafeArchive):
        for info, _data in HOSTILE[case]:
            checker.check(info)


def test_contiguous_file_is_a_regular_file():
    assert tar_safety.MemberChecker().check(member("c", "cont")[0]) == ("c", "file")


def test_allowed_types_restricts():
    checker = tar_safety.MemberChecker(allowed_types=("file",))
    with pytest.raises(UnsafeArchive, match="unexpected dir"):
        checker.check(member("d", "dir")[0])


def test_is_safe_member():
    assert tar_safety.is_safe_member(member("ok", data=b"")[0])
    assert not tar_safety.is_safe_member(member("/abs", data=b"")[0])


def test_check_real_parents(tmp_path):
    root = str(tmp_path)
    os.makedirs(os.path.join(root, "a", "b"))
    outside = tmp_path.parent / (tmp_path.name + "-outside")
    outside.mkdir()
    os.symlink(str(outside), os.path.join(root, "a", "l"))
    with open(os.path.join(root, "a", "f"), "w"):
        pass
    verified = set()
    tar_safety.check_real_parents(root, "a/b/file", verified)
    assert verified == {"a", "a/b"}
    with pytest.raises(UnsafeArchive, match="not a real directory"):
        tar_safety.check_real_parents(root, "a/l/file")
    with pytest.raises(UnsafeArchive, match="not a real directory"):
        tar_safety.check_real_parents(root, "a/f/file")
    with pytest.raises(UnsafeArchive, match="missing"):
        tar_safety.check_real_parents(root, "zz/file")
