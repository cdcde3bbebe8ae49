# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Does a restored archive tree hold exactly what its MANIFEST.json says?

Used by playbooks/verify.yml after an archive was restored into a scratch
directory: every artifact the manifest lists must be a regular file of the
listed size and sha256. Unlike the save-time validation, every artifact is
read and hashed even when its size is already wrong, so the report can say
"expected sha256 X, found Y" for each one, and regular files the manifest
does not list are reported too.

check_tree() is pure (data in, report out); scan_tree() is the one place that
reads the disk.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import stat

from ansible_collections.statesafe.backup.plugins.module_utils import local_files
from ansible_collections.statesafe.backup.plugins.module_utils.bup.validate import (
    read_manifest,
)
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    InvalidInput,
)

REPORT_LIMIT = 50
_CHUNK = 1 << 20


def check_tree(artifacts, found, manifest_path="MANIFEST.json"):
    """Compare the manifest's artifacts with what is on disk.

    artifacts: [{"path", "size", "sha256"}] as load_manifest returns them.
    found: {relative path: {"kind": "file"|"link"|"dir"|"other", "size": int, "sha256": str|None}} for every
    entry of the tree (scan_tree). Returns a report whose ``problems`` list says, per artifact, what is wrong
    with expected and actual values.
    """
    problems = []
    checked_bytes = 0
    listed = set()
    for artifact in artifacts:
        path = artifact["path"]
        listed.add(path)
        entry = found.get(path)
        if entry is None:
            problems.append({"path": path, "problem": "missing", "expected_size": artifact["size"],
                             "expected_sha256": artifact["sha256"]})
            continue
        if entry.get("kind") != "file":
            problems.append({"path": path, "problem": "not a regular file ({0})".format(entry.get("kind")),
                             "expected_size": artifact["size"], "expected_sha256": artifact["sha256"]})
            continue
        checked_bytes += entry["size"]
        if artifact["sha256"] is None:
            problems.append({"path": path, "problem": "no sha256 in the manifest", "expected_size": artifact["size"],
                             "actual_size": entry["size"], "actual_sha256": entry.get("sha256")})
            continue
        if entry["size"] != artifact["size"] or entry.get("sha256") != artifact["sha256"]:
            what = "sha256 and size differ" if entry["size"] != artifact["size"] else "sha256 differs"
            problems.append({"path": path, "problem": what, "expected_size": artifact["size"],
                             "actual_size": entry["size"], "expected_sha256": artifact["sha256"],
                             "actual_sha256": entry.get("sha256")})
    unexpected = sorted(path for path, entry in found.items()
                        if entry.get("kind") == "file" and path not in listed and path != manifest_path)
    return {
        "ok": not problems and not unexpected,
        "artifacts_checked": len(artifacts),
        "bytes_checked": checked_bytes,
        "problem_count": len(problems),
        "problems": problems[:REPORT_LIMIT],
        "unexpected_count": len(unexpected),
        "unexpected": unexpected[:REPORT_LIMIT],
    }


def describe(report, root):
    """One message naming each problem: path, expected and actual size and sha256."""
    if report["ok"]:
        return "all {0} artifacts of {1} have the size and sha256 of the manifest ({2} bytes)".format(
            report["artifacts_checked"], root, report["bytes_checked"])
    lines = []
    for item in report["problems"]:
        line = "{0}: {1}".format(item["path"], item["problem"])
        if "actual_sha256" in item or "actual_size" in item:
            line += " (expected sha256 {0} size {1}, actual sha256 {2} size {3})".format(
                item.get("expected_sha256"), item.get("expected_size"), item.get("actual_sha256"),
                item.get("actual_size"))
        else:
            line += " (expected sha256 {0} size {1})".format(item.get("expected_sha256"), item.get("expected_size"))
        lines.append(line)
    if report["problem_count"] > len(report["problems"]):
        lines.append("and {0} more".format(report["problem_count"] - len(report["problems"])))
    if report["unexpected_count"]:
        lines.append("{0} files not in the manifest: {1}{2}".format(
            report["unexpected_count"], ", ".join(report["unexpected"][:10]),
            " and more" if report["unexpected_count"] > 10 else ""))
    return "{0} of {1} artifacts of {2} do not match the manifest: {3}".format(
        report["problem_count"], report["artifacts_checked"], root, "; ".join(lines))


def scan_tree(root):
    """Every entry under root as {relative path: {"kind", "size", "sha256"}}; regular files are hashed."""
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(directory, name)
            relative = os.path.relpath(full, root).replace(os.sep, "/")
            info = os.lstat(full)
            if stat.S_ISREG(info.st_mode):
                found[relative] = {"kind": "file", "size": info.st_size, "sha256": local_files.file_sha256(full, _CHUNK)[1]}
            elif stat.S_ISLNK(info.st_mode):
                found[relative] = {"kind": "link", "size": info.st_size, "sha256": None}
            elif stat.S_ISDIR(info.st_mode):
                found[relative] = {"kind": "dir", "size": 0, "sha256": None}
            else:
                found[relative] = {"kind": "other", "size": 0, "sha256": None}
    return found


def verify_tree(root, manifest="MANIFEST.json"):
    """Read root/manifest and check the tree under root against it."""
    if not os.path.isdir(root):
        raise InvalidInput("the restored archive tree is not a directory", path=root)
    _data, artifacts = read_manifest(os.path.join(root, manifest), "the archive has no readable manifest",
                                     error=InvalidInput)
    report = check_tree(artifacts, scan_tree(root), manifest_path=manifest)
    report["root"] = root
    report["msg"] = describe(report, root)
    return report
