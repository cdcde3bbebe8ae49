# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Listings of a tree and the plan that makes a destination mirror a source.

A listing maps a relative path to an Entry (type, size, mtime, mode, owner,
link target). The remote listing comes from one `find -printf` in the pod, the
local one from lstat. plan_mirror() compares them and says what to transfer,
create, re-mode, re-link and remove; everything here is pure except scan_local.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import fnmatch
import os
import stat

from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    StreamError,
    UnsafeArchive,
)
from ansible_collections.statesafe.backup.plugins.module_utils.volume.tar_safety import (
    RESERVED_PREFIX,
    check_link_target,
    check_relpath,
)

Entry = collections.namedtuple("Entry", "type size mtime mode uid gid link")

# find -printf: type, size, mtime, mode, uid, gid, path, link target; NUL after each.
FIND_FORMAT = r"%y\0%s\0%T@\0%m\0%U\0%G\0%P\0%l\0"
FIND_FIELDS = 8
_FIND_TYPES = {"f": "file", "d": "dir", "l": "symlink"}

FILE_MODE_MASK = 0o777  # set-id and sticky bits are not recreated locally
DIR_OWNER_BITS = 0o700  # directories stay writable by us so the mirror can be updated


def decode_name(raw):
    """File names are bytes; keep undecodable ones round-trippable."""
    return raw.decode("utf-8", "surrogateescape")


def encode_name(name):
    return name.encode("utf-8", "surrogateescape")


def parse_mtime(raw):
    """Whole seconds (floor) of find's '%T@' ('1700000000.9999999990'), without float rounding."""
    text = raw.decode("ascii")
    seconds, _dot, fraction = text.partition(".")
    value = int(seconds)
    if seconds.startswith("-") and fraction.strip("0"):
        value -= 1
    return value


def local_mtime(st):
    """Whole seconds (floor) of an lstat result, as parse_mtime and tar headers count them."""
    return st.st_mtime_ns // 1000000000


def parse_find_listing(data):
    """Parse `find -printf FIND_FORMAT` output into {relpath: Entry}.

    Types other than file, dir and symlink are kept as 'other' (sockets,
    FIFOs, devices): never transferred, reported as ignored.
    """
    if not data:
        return {}
    fields = data.split(b"\x00")
    if fields[-1] != b"":
        raise StreamError("listing does not end with a NUL: the listing was cut")
    fields.pop()
    if len(fields) % FIND_FIELDS:
        raise StreamError("listing has {0} fields, not a multiple of {1}".format(len(fields), FIND_FIELDS))
    listing = {}
    for start in range(0, len(fields), FIND_FIELDS):
        ftype, size, mtime, mode, uid, gid, path, link = fields[start:start + FIND_FIELDS]
        name = decode_name(path)
        try:
            relpath = check_relpath(name)
            kind = _FIND_TYPES.get(ftype.decode("ascii"), "other")
            listing[relpath] = Entry(
                kind,
                int(size) if kind == "file" else 0,
                parse_mtime(mtime),
                int(mode, 8),
                int(uid),
                int(gid),
                decode_name(link) if kind == "symlink" else None,
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise StreamError("listing entry {0!r} cannot be parsed".format(name)) from exc
    return listing


def scan_local(root, excluded=None):
    """lstat listing of a local tree, like parse_find_listing's, without following links."""
    listing = {}
    if not os.path.isdir(root):
        return listing
    stack = [""]
    while stack:
        prefix = stack.pop()
        directory = os.path.join(root, prefix) if prefix else root
        with os.scandir(directory) as entries:
            for entry in entries:
                relpath = prefix + "/" + entry.name if prefix else entry.name
                if not prefix and entry.name.startswith(RESERVED_PREFIX):
                    continue
                if excluded and excluded(relpath):
                    continue
                st = entry.stat(follow_symlinks=False)
                if stat.S_ISREG(st.st_mode):
                    kind, link = "file", None
                elif stat.S_ISDIR(st.st_mode):
                    kind, link = "dir", None
                    stack.append(relpath)
                elif stat.S_ISLNK(st.st_mode):
                    kind, link = "symlink", os.readlink(entry.path)
                else:
                    kind, link = "other", None
                listing[relpath] = Entry(kind, st.st_size if kind == "file" else 0, local_mtime(st),
                                         stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, link)
    return listing


def exclusion_matcher(patterns):
    """A predicate over relative paths.

    A pattern without '/' matches a name at any depth ('lost+found', '*.sock');
    one with '/' matches the whole relative path ('data/tmp/*'). A matched
    directory excludes everything below it.
    """
    patterns = [p.strip("/") for p in patterns or () if p and p.strip("/")]
    if not patterns:
        return None

    def excluded(relpath):
        parts = relpath.split("/")
        for index in range(len(parts)):
            prefix = "/".join(parts[:index + 1])
            for pattern in patterns:
                if "/" in pattern:
                    if fnmatch.fnmatchcase(prefix, pattern):
                        return True
                elif fnmatch.fnmatchcase(parts[index], pattern):
                    return True
        return False

    return excluded


def filter_listing(listing, excluded):
    if excluded is None:
        return dict(listing)
    return dict((path, entry) for path, entry in listing.items() if not excluded(path))


def wanted_mode(entry):
    """Mode a mirrored entry gets on our side (see FILE_MODE_MASK, DIR_OWNER_BITS)."""
    if entry.type == "dir":
        return (entry.mode & FILE_MODE_MASK) | DIR_OWNER_BITS
    return entry.mode & FILE_MODE_MASK


class MirrorPlan(object):
    """What to do so that the destination mirrors the source."""

    def __init__(self):
        self.mkdirs = []       # directories to create, parents first
        self.transfer = []     # regular files to send, sorted
        self.links = []        # symlinks to (re)create
        self.chmods = []       # existing entries whose mode alone differs
        self.chowns = []       # existing entries whose owner alone differs
        self.remove = []       # destination entries to delete (top-most first)
        self.ignored = []      # special files in the source, never transferred
        self.unchanged = 0     # regular files left as they are
        self.transfer_bytes = 0

    @property
    def changed(self):
        return bool(self.mkdirs or self.transfer or self.links or self.chmods or self.chowns or self.remove)

    def summary(self):
        return {
            "transfer": len(self.transfer),
            "transfer_bytes": self.transfer_bytes,
            "mkdirs": len(self.mkdirs),
            "links": len(self.links),
            "chmods": len(self.chmods),
            "chowns": len(self.chowns),
            "remove": len(self.remove),
            "ignored": len(self.ignored),
            "unchanged": self.unchanged,
        }


def top_level(paths):
    """Drop paths that lie under another path of the set (rmtree removes them anyway)."""
    chosen = set(paths)
    kept = []
    for path in sorted(chosen):
        parts = path.split("/")
        if any("/".join(parts[:i]) in chosen for i in range(1, len(parts))):
            continue
        kept.append(path)
    return kept


def plan_mirror(source, dest, compare_owner=False):
    """Compare two listings; the MirrorPlan turning dest into a copy of source.

    Files are compared by size and mtime (whole seconds), like rsync's quick
    check; a mode-only or owner-only difference is fixed in place without a
    transfer. Source symlinks must stay inside the tree (UnsafeArchive).
    """
    plan = MirrorPlan()
    doomed = set()
    for relpath in sorted(source):
        entry = source[relpath]
        have = dest.get(relpath)
        if entry.type == "other":
            plan.ignored.append(relpath)
            if have is not None:
                doomed.add(relpath)
            continue
        if have is not None and have.type != entry.type:
            doomed.add(relpath)
            have = None
        if entry.type == "dir":
            if have is None:
                plan.mkdirs.append(relpath)
            elif (have.mode & 0o7777) != wanted_mode(entry):
                plan.chmods.append(relpath)
        elif entry.type == "symlink":
            check_link_target(relpath, entry.link)
            if have is None or have.link != entry.link:
                if have is not None:
                    doomed.add(relpath)
                plan.links.append(relpath)
        else:
            if have is None or have.size != entry.size or have.mtime != entry.mtime:
                plan.transfer.append(relpath)
                plan.transfer_bytes += entry.size
                continue
            plan.unchanged += 1
            if (have.mode & 0o7777) != wanted_mode(entry):
                plan.chmods.append(relpath)
        if compare_owner and have is not None and entry.type != "symlink" and (have.uid, have.gid) != (entry.uid, entry.gid):
            plan.chowns.append(relpath)
    for relpath in dest:
        if relpath not in source:
            doomed.add(relpath)
    plan.remove = top_level(doomed)
    # A directory the source still has but whose parent is being removed
    # (a file turned into a directory) is recreated by mkdirs; nothing else to do.
    return plan


def parse_sha256sum_z(data):
    """{relpath: hexdigest} from `sha256sum -z` output ('<hex>  <name>\\0' records)."""
    sums = {}
    if not data:
        return sums
    records = data.split(b"\x00")
    if records[-1] != b"":
        raise StreamError("checksum list does not end with a NUL: it was cut")
    for record in records[:-1]:
        digest, sep, name = record.partition(b"  ")
        if not sep or len(digest) != 64:
            raise StreamError("checksum record {0!r} cannot be parsed".format(record[:120]))
        path = decode_name(name)
        if path.startswith("./"):
            path = path[2:]
        sums[path] = digest.decode("ascii").lower()
    return sums


def sha256sum_manifest(sums):
    """sha256sum -c input for {relpath: hexdigest}; names with a newline or backslash are escaped."""
    lines = []
    for path in sorted(sums):
        name = path
        prefix = ""
        if "\\" in name or "\n" in name:
            prefix = "\\"
            name = name.replace("\\", "\\\\").replace("\n", "\\n")
        lines.append("{0}{1}  ./{2}\n".format(prefix, sums[path], name))
    return "".join(lines).encode("utf-8", "surrogateescape")


def check_source_tree(listing):
    """Refuse a local source that could not be restored safely (to_pod)."""
    for relpath in sorted(listing):
        entry = listing[relpath]
        if entry.type == "symlink":
            check_link_target(relpath, entry.link)
        if relpath.split("/", 1)[0].startswith(RESERVED_PREFIX):
            raise UnsafeArchive("name reserved for the copy's own bookkeeping", path=relpath)
