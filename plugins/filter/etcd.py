# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The etcd_restore_plan filter: an etcd restore's inputs -> its steps and why it must not run, if it must not."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.module_utils.etcd import plan


def etcd_restore_plan(snapshot_status, data_dir, timestamp, control_plane, files, archive, api_url, serving,
                      allow_serving):
    """{'steps': [...], 'refusal': str or None} of an etcd restore."""
    if not isinstance(snapshot_status, dict):
        raise AnsibleFilterError("etcd_restore_plan expects the checked snapshot's status (a dict), got {0}".format(
            type(snapshot_status).__name__))
    try:
        for path in files or []:
            plan.relative_to_root(path)
        steps = plan.restore_plan(data_dir, float(timestamp), control_plane, list(files or []), archive,
                                  snapshot_status, api_url, bool(serving))
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("etcd_restore_plan: {0}".format(exc)) from exc
    refusal = plan.refusal(bool(serving), bool(allow_serving), snapshot_status, control_plane)
    return {"steps": steps, "refusal": refusal}


class FilterModule(object):
    def filters(self):
        return {"etcd_restore_plan": etcd_restore_plan}
