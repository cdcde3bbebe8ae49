# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The plan of an etcd restore, and the names of the directories it swaps. Pure functions.

The restore never destroys the data it replaces: the snapshot is restored into a new directory beside the
data directory, and only then the data directory is renamed aside (kept) and the new one renamed into its
place. Until that swap the old data is untouched, so an interrupted restore leaves it as it was.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import time

CONTROL_PLANES = ("commands", "static-pods", "systemd")


def swap_paths(data_dir, timestamp):
    """(new directory the snapshot is restored into, where the old data directory is kept) for a data dir."""
    data_dir = data_dir.rstrip("/") or "/"
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(float(timestamp)))
    return "{0}.restore-{1}".format(data_dir, stamp), "{0}.before-restore-{1}".format(data_dir, stamp)


def refusal(serving, allow_serving, archive_status, control_plane):
    """Why the restore must not go on, or None. serving: whether the cluster's API or etcd answers now."""
    if control_plane not in CONTROL_PLANES:
        return "control plane managed by {0!r}: must be one of {1}".format(control_plane, ", ".join(CONTROL_PLANES))
    if not archive_status:
        return "the archive holds no checked snapshot"
    if serving and not allow_serving:
        return ("the cluster is serving (its API server or etcd answers): a restore replaces all of its state with "
                "the archive's; stop it first, or confirm with allow_serving=true (etcd_restore_allow_serving)")
    return None


def restore_plan(data_dir, timestamp, control_plane, files, archive, snapshot_status, api_url, serving):
    """The ordered steps of a restore, as text a person can check (what --check shows)."""
    new_dir, kept_dir = swap_paths(data_dir, timestamp)
    how = {"commands": "the given stop commands", "static-pods":
           "moving the etcd and kube-apiserver manifests out of the static-pod directory",
           "systemd": "stopping the systemd units"}.get(control_plane, control_plane)
    steps = [
        "archive {0}: snapshot of revision {1}, {2} keys, hash {3}, checked (integrity trailer and etcdutl "
        "snapshot status)".format(archive, snapshot_status.get("revision"), snapshot_status.get("total_keys"),
                                  snapshot_status.get("hash")),
        "stop the API server and etcd by {0}{1}".format(how, " (they are serving now)" if serving else
                                                        " (neither answers now)"),
        "restore the snapshot into {0} (etcdutl snapshot restore)".format(new_dir),
        "rename {0} to {1} (kept), then {2} to {0}".format(data_dir, kept_dir, new_dir),
    ]
    if files:
        steps.append("put back {0} saved path(s): {1}".format(len(files), ", ".join(files)))
    steps.append("start etcd and the API server again ({0})".format(how.replace("stopping", "starting").replace(
        "moving the etcd and kube-apiserver manifests out of", "moving the manifests back into").replace(
        "the given stop commands", "the given start commands")))
    if api_url:
        steps.append("wait until {0}/readyz answers".format(api_url.rstrip("/")))
    return steps


def relative_to_root(path):
    """A saved path's place below the archive's files/ directory: /etc/kubernetes/pki -> etc/kubernetes/pki."""
    normalized = os.path.normpath(path)
    if not os.path.isabs(normalized) or not normalized.strip("/"):
        raise ValueError("saved paths must be absolute and not /, got {0!r}".format(path))
    return normalized.lstrip("/")
