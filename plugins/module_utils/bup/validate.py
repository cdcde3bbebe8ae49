# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Is a saved commit what the manifest says it should be? Pure functions.

The manifest is the staging tree's MANIFEST.json, written last by the backup
run. This layer needs only its artifact list:

    {"artifacts": [{"path": "dumps/mariadb.sql", "size": 1234, "sha256": "ab..."}, ...]}

(a mapping {"dumps/mariadb.sql": {"size": ..., "sha256": ...}} is accepted
too); paths are relative to the staging root. Other keys are ignored.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import posixpath
import re

from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import (
    BadInput,
)

_SHA256 = re.compile(r"^[0-9a-f]{64}$")
REPORT_LIMIT = 20


def normalize_relpath(path):
    """'./a//b' -> 'a/b'; None for paths that leave the tree or are absolute."""
    if not isinstance(path, str) or not path or path.startswith("/"):
        return None
    normalized = posixpath.normpath(path)
    if normalized in (".", "..") or normalized.startswith("../"):
        return None
    return normalized


def read_manifest(path, unreadable, error=BadInput, source=None):
    """(bytes, artifacts) of the manifest file at path.

    A file that cannot be read raises error("<unreadable>: <reason>", path=source);
    source (default: path) also names the manifest in load_manifest's errors.
    """
    source = path if source is None else source
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except (IOError, OSError) as exc:
        raise error("{0}: {1}".format(unreadable, exc), path=source) from exc
    return data, load_manifest(data, source)


def load_manifest(data, source):
    """Manifest bytes -> [{"path", "size", "sha256"}] sorted by path; BadInput naming source."""
    try:
        document = json.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadInput("manifest is not valid JSON: {0}".format(exc), path=source) from exc
    raw = document.get("artifacts") if isinstance(document, dict) else None
    if isinstance(raw, dict):
        raw = [dict(value, path=key) if isinstance(value, dict) else {"path": key} for key, value in raw.items()]
    if not isinstance(raw, list):
        raise BadInput("manifest has no 'artifacts' list", path=source)
    if not raw:
        raise BadInput("manifest lists no artifacts; an empty backup is not a complete one", path=source)
    artifacts = {}
    for entry in raw:
        path = normalize_relpath(entry.get("path")) if isinstance(entry, dict) else None
        if path is None:
            raise BadInput("manifest artifact {0!r} has no relative path inside the staging tree"
                           .format(entry), path=source)
        size = entry.get("size")
        digest = entry.get("sha256")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise BadInput("manifest artifact {0} has no valid size".format(path), path=source)
        if digest is not None and not (isinstance(digest, str) and _SHA256.match(digest.lower())):
            raise BadInput("manifest artifact {0} has an invalid sha256 {1!r}".format(path, digest), path=source)
        if path in artifacts:
            raise BadInput("manifest lists {0} twice".format(path), path=source)
        artifacts[path] = {"path": path, "size": size, "sha256": digest.lower() if digest else None}
    return [artifacts[p] for p in sorted(artifacts)]


def compare(artifacts, files, digests=None):
    """Check artifacts against an archive's file table.

    files: {path: {"size", "kind", ...}} (from bup_parse.archive_files or a
    remote listing); digests: {path: sha256} when content was read back, else
    None (size check only). Returns a report; ok is True only when every
    artifact is a regular file of the right size (and digest, when read).
    """
    missing, wrong_size, wrong_digest, not_file, unverifiable = [], [], [], [], []
    checked_bytes = 0
    for artifact in artifacts:
        path = artifact["path"]
        found = files.get(path)
        if found is None:
            missing.append(path)
            continue
        if found.get("kind") != "file":
            not_file.append(path)
            continue
        if found["size"] != artifact["size"]:
            wrong_size.append({"path": path, "expected": artifact["size"], "found": found["size"]})
            continue
        checked_bytes += artifact["size"]
        if digests is not None:
            if artifact["sha256"] is None:
                unverifiable.append(path)
            elif digests.get(path) != artifact["sha256"]:
                wrong_digest.append({"path": path, "expected": artifact["sha256"], "found": digests.get(path)})
    problems = len(missing) + len(wrong_size) + len(wrong_digest) + len(not_file) + len(unverifiable)
    return {
        "ok": problems == 0,
        "level": "sha256" if digests is not None else "size",
        "files_checked": len(artifacts),
        "bytes_checked": checked_bytes,
        "problems": problems,
        "missing": missing[:REPORT_LIMIT],
        "wrong_size": wrong_size[:REPORT_LIMIT],
        "wrong_sha256": wrong_digest[:REPORT_LIMIT],
        "not_a_file": not_file[:REPORT_LIMIT],
        "no_sha256_in_manifest": unverifiable[:REPORT_LIMIT],
    }


def summarize(report):
    """One line for a failure message: the first problems by kind."""
    parts = []
    for key, label in (("missing", "missing"), ("wrong_size", "wrong size"), ("wrong_sha256", "wrong sha256"),
                       ("not_a_file", "not a regular file"), ("no_sha256_in_manifest", "no sha256 in manifest")):
        items = report.get(key) or []
        if items:
            names = [item["path"] if isinstance(item, dict) else item for item in items[:3]]
            more = "" if len(items) <= 3 else " and more"
            parts.append("{0}: {1}{2}".format(label, ", ".join(names), more))
    return "{0} of {1} artifacts failed ({2})".format(report["problems"], report["files_checked"], "; ".join(parts))
