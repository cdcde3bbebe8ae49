# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the backup role writes into MANIFEST.json about the staging tree."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import posixpath


def manifest_artifacts(files, root):
    """{path (relative to root), size, sha256} of each file tree_checksums (or find) returned, sorted by path.

    Sorted by path without regard to case: the order MANIFEST.json uses.
    """
    return [{"path": posixpath.relpath(f["path"], root), "size": f["size"], "sha256": f["checksum"]}
            for f in sorted(files or [], key=lambda f: f["path"].lower())]
