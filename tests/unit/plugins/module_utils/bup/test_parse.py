from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.bup import parse

C1 = "1" * 40
C2 = "2" * 40
C3 = "3" * 40


def ls_tree(*rows):
    return b"".join("{0} {1} {2} {3:>7}\t{4}".format(*row).encode("utf-8", "surrogateescape") + b"\0"
                    for row in rows)


def test_parse_ls_tree_reads_nul_separated_records_with_odd_names():
    data = ls_tree(("100644", "blob", C1, 3, "a/b c\tz.txt"), ("120000", "blob", C2, 5, "link"),
                   ("160000", "commit", C3, "-", "sub"))
    entries = parse.parse_ls_tree(data)
    assert entries == [("100644", "blob", C1, 3, "a/b c\tz.txt"), ("120000", "blob", C2, 5, "link"),
                       ("160000", "commit", C3, None, "sub")]


def test_parse_ls_tree_refuses_garbage():
    with pytest.raises(ValueError):
        parse.parse_ls_tree(b"nonsense\0")


def test_archive_files_demangles_and_sums_chunks_in_order():
    entries = [
        ("100644", "blob", "m" * 40, 100, ".bupm"),
        ("100644", "blob", "a" * 40, 10, "big.sql.bup/0000/000"),
        ("100644", "blob", "b" * 40, 20, "big.sql.bup/0000/1a0"),
        ("100644", "blob", "c" * 40, 5, "big.sql.bup/1b00"),
        ("100644", "blob", "d" * 40, 2, "weird.bup.bupl"),
        ("100644", "blob", "e" * 40, 7, "dir.bup.bupl/inner.txt"),
        ("100644", "blob", "f" * 40, 52, "dir.bup.bupl/.bupm"),
        # a directory's metadata big enough for bup to hash-split it
        ("100644", "blob", "7" * 40, 60, "volumes/.bupm/0000"),
        ("100644", "blob", "8" * 40, 48, "volumes/.bupm/1f40"),
        ("120000", "blob", "9" * 40, 4, "latest"),
    ]
    files = parse.archive_files(entries)
    assert files == {
        "big.sql": {"size": 35, "blobs": ["a" * 40, "b" * 40, "c" * 40], "kind": "file"},
        "weird.bup": {"size": 2, "blobs": ["d" * 40], "kind": "file"},
        "dir.bup/inner.txt": {"size": 7, "blobs": ["e" * 40], "kind": "file"},
        "latest": {"size": 4, "blobs": ["9" * 40], "kind": "symlink"},
    }


def test_archive_files_refuses_split_trees_it_cannot_read():
    with pytest.raises(ValueError, match="split"):
        parse.archive_files([("100644", "blob", C1, 1, "volumes/x.bupd/a")])


def test_archive_files_refuses_a_path_listed_twice():
    with pytest.raises(ValueError, match="twice"):
        parse.archive_files([("100644", "blob", C1, 1, "a"), ("100644", "blob", C2, 1, "a")])


def test_parse_refs_splits_heads_and_markers_and_ignores_other_refs():
    data = ("{0} refs/heads/sf\n{1} refs/heads/other\n{0} refs/tags/complete/sf/{0}\n"
            "{1} refs/tags/complete/sf/{2}\n{1} refs/tags/complete/sf/not-a-commit\n{1} refs/tags/v1\n"
            .format(C1, C2, C3)).encode()
    heads, markers = parse.parse_refs(data)
    assert heads == {"sf": C1, "other": C2}
    assert markers == [
        {"ref": "refs/tags/complete/sf/" + C1, "branch": "sf", "commit": C1, "target": C1},
        {"ref": "refs/tags/complete/sf/" + C3, "branch": "sf", "commit": C3, "target": C2},
    ]


def test_parse_rev_list_skips_commit_headers_of_pretty_format():
    data = "commit {0}\n{0} {1} 1700000000 1700000001\n{2} {1} 1699999999 1699999999\n".format(C1, C2, C3).encode()
    assert parse.parse_rev_list(data) == [
        {"commit": C1, "tree": C2, "time": 1700000000, "commit_time": 1700000001},
        {"commit": C3, "tree": C2, "time": 1699999999, "commit_time": 1699999999},
    ]


def test_parse_rev_list_refuses_short_lines():
    with pytest.raises(ValueError):
        parse.parse_rev_list(b"abc def\n")


@pytest.mark.parametrize("times, expected", [
    ([1700000000], ["2023-11-14-221320"]),
    ([1700000001, 1700000000, 1700000000, 1699000000],
     ["2023-11-14-221321", "2023-11-14-221320-1", "2023-11-14-221320-0", "2023-11-03-082640"]),
    ([1700000000] * 11, ["2023-11-14-221320-{0:02d}".format(n) for n in range(10, -1, -1)]),
])
def test_save_names_match_bups_naming(times, expected):
    assert parse.save_names(times, time.gmtime) == expected


def test_parse_ls_commit_hash_drops_latest():
    data = "{0} 2023-11-14-221320-0\n{1} 2023-11-14-221320-1\n{2} latest\n".format(C1, C2, "0" * 40).encode()
    assert parse.parse_ls_commit_hash(data) == [(C1, "2023-11-14-221320-0"), (C2, "2023-11-14-221320-1")]


def test_parse_fsck_verbose():
    data = b"\npack-aaa ok\npack-bbb failed\n/repo/objects/pack/pack-ccc repaired\npack-ddd generated\nnoise line\n"
    assert parse.parse_fsck_verbose(data) == {"pack-aaa": "ok", "pack-bbb": "failed", "pack-ccc": "repaired",
                                              "pack-ddd": "generated"}


def test_error_lines_drop_progress_and_duplicates():
    data = (b"Indexing: 3, done.\rReading index: 3, done.\n"
            b"[Errno 2] No such file or directory: '/st/a/gone.txt'          \n"
            b"WARNING: 1 errors encountered while saving.\n"
            b"[Errno 2] No such file or directory: '/st/a/gone.txt'\n")
    assert parse.error_lines(data) == ["[Errno 2] No such file or directory: '/st/a/gone.txt'",
                                       "WARNING: 1 errors encountered while saving."]


@pytest.mark.parametrize("name, ok", [
    ("sf", True), ("soft-factory_1.2", True), ("", False), ("-x", False), ("a/b", False), ("a..b", False),
    ("x.lock", False), ("a b", False),
])
def test_valid_branch_name(name, ok):
    assert parse.valid_branch_name(name) is ok
