# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Parsers for what bup and git print: pure functions from bytes to data.

Paths inside an archive are bytes on disk; they are decoded here as UTF-8 with
surrogate escapes so any file name round-trips, and compared as text.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re
import time

MARKER_PREFIX = "refs/tags/complete/"
HEAD_PREFIX = "refs/heads/"

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_BRANCH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def decode_path(raw):
    return raw.decode("utf-8", "surrogateescape")


def is_commit_id(text):
    return bool(_HEX40.match(text or ""))


def valid_branch_name(name):
    """bup names a save set after its branch; keep it one plain path component."""
    return bool(name and _BRANCH.match(name) and not name.endswith(".lock") and ".." not in name)


def marker_ref(branch, commit):
    return "{0}{1}/{2}".format(MARKER_PREFIX, branch, commit)


def parse_ls_tree(data):
    """`git ls-tree -r -l -z` output -> [(mode, type, oid, size or None, path)]."""
    entries = []
    for record in data.split(b"\0"):
        if not record:
            continue
        meta, _tab, raw_path = record.partition(b"\t")
        fields = meta.split()
        if len(fields) != 4 or not _tab:
            raise ValueError("unexpected git ls-tree record {0!r}".format(record[:200]))
        mode, kind, oid, size = (f.decode("ascii") for f in fields)
        entries.append((mode, kind, oid, None if size == "-" else int(size), decode_path(raw_path)))
    return entries


def _demangle(component):
    """(name, chunked) for one stored path component, as bup's git.demangle_name."""
    if component.endswith(".bupl"):
        return component[:-5], False
    if component.endswith(".bup"):
        return component[:-4], True
    return component, False


def archive_files(entries):
    """The files of a saved tree from its `git ls-tree -r -l` entries.

    bup stores a small file as one blob and a large one as a tree named
    '<name>.bup' of chunk blobs (named by zero-padded hex offset, so git's tree
    order is file order); names that really end in '.bup' get a '.bupl' suffix;
    '.bupm' blobs hold metadata. Returns {path: {"size", "blobs", "kind"}} with
    blobs in content order and kind 'file' or 'symlink'.
    """
    files = {}
    for mode, kind, oid, size, path in entries:
        if kind != "blob":
            continue  # submodule-like entries never appear in bup trees
        parts = path.split("/")
        if parts[-1] == ".bupm":
            continue
        names = []
        chunked = False
        for part in parts:
            if part.endswith(".bupd"):
                raise ValueError("tree {0!r} was split by bup.split.trees, which validation does not read"
                                 .format(path))
            name, is_chunked = _demangle(part)
            names.append(name)
            if is_chunked:
                chunked = True
                break
        if ".bupm" in names:
            continue  # a directory's metadata, hash-split into a tree when it is large: '.bupm/<chunks>'
        file_path = "/".join(names)
        record = files.setdefault(file_path, {"size": 0, "blobs": [],
                                              "kind": "symlink" if mode == "120000" else "file"})
        if not chunked and record["blobs"]:
            raise ValueError("path {0!r} appears twice in the tree".format(file_path))
        record["size"] += size or 0
        record["blobs"].append(oid)
    return files


def parse_refs(data):
    """`git for-each-ref --format='%(objectname) %(refname)'` -> (heads, markers).

    heads: {branch: commit}; markers: [{"ref", "branch", "commit", "target"}]
    where commit is the id in the marker's name and target what it points at.
    """
    heads = {}
    markers = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        if not line.strip():
            continue
        oid, _sp, ref = line.partition(" ")
        if ref.startswith(HEAD_PREFIX):
            heads[ref[len(HEAD_PREFIX):]] = oid
        elif ref.startswith(MARKER_PREFIX):
            rest = ref[len(MARKER_PREFIX):]
            branch, _slash, commit = rest.rpartition("/")
            if branch and is_commit_id(commit):
                markers.append({"ref": ref, "branch": branch, "commit": commit, "target": oid})
    return heads, markers


def parse_rev_list(data):
    """Lines of '%H %T %at %ct' (newest first) -> [{"commit", "tree", "time", "commit_time"}]."""
    commits = []
    for line in data.decode("ascii").splitlines():
        fields = line.split()
        if not fields or fields[0] == "commit":  # `git rev-list --format` header lines
            continue
        if len(fields) != 4:
            raise ValueError("unexpected rev-list line {0!r}".format(line))
        commits.append({"commit": fields[0], "tree": fields[1], "time": int(fields[2]),
                        "commit_time": int(fields[3])})
    return commits


def save_names(times, localtime=time.localtime):
    """The names bup gives saves ('YYYY-MM-DD-HHMMSS', local time), newest first.

    A run of saves in the same second gets '-N' suffixes, N decreasing to 0
    along the run, zero-padded, exactly as bup's vfs does.
    """
    base = [time.strftime("%Y-%m-%d-%H%M%S", localtime(t)) for t in times]
    names = []
    index = 0
    while index < len(base):
        end = index
        while end < len(base) and base[end] == base[index]:
            end += 1
        count = end - index
        if count == 1:
            names.append(base[index])
        else:
            width = len(str(count - 1))
            for number in range(count - 1, -1, -1):
                names.append("{0}-{1:0{2}d}".format(base[index], number, width))
        index = end
    return names


def parse_ls_commit_hash(data):
    """`bup ls --commit-hash /BRANCH` -> [(commit, save name)], without 'latest'."""
    saves = []
    for line in data.decode("utf-8", "surrogateescape").splitlines():
        oid, _sp, name = line.partition(" ")
        if name in ("latest", ".", "..") or not is_commit_id(oid):
            continue
        saves.append((oid, name))
    return saves


_FSCK_STATUSES = frozenset(("ok", "failed", "repaired", "generated", "exists", "skipped"))


def parse_fsck_verbose(data):
    """`bup fsck -v` stdout ('pack-<id> <status>' lines) -> {pack: status}."""
    packs = {}
    for line in data.decode("utf-8", "replace").splitlines():
        name, _sp, status = line.strip().rpartition(" ")
        if name and status in _FSCK_STATUSES:
            packs[name.rsplit("/", 1)[-1]] = status
    return packs


_PROGRESS_NOISE = re.compile(r"^(Reading index|Indexing|Saving|bloom|Checking|Assuming par2)\b")


def error_lines(data, limit=50):
    """Lines of bup's stderr that report problems, progress meters dropped."""
    lines = []
    for chunk in data.decode("utf-8", "replace").replace("\r", "\n").splitlines():
        line = chunk.strip()
        if not line or _PROGRESS_NOISE.match(line):
            continue
        if line not in lines:
            lines.append(line)
    return lines[:limit]
