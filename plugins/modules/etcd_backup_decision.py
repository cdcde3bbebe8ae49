#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: etcd_backup_decision
short_description: Whether an etcd backup run saves an archive, or is skipped
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Compares etcd's current revision and the digest of the files to save (sha256 over their sorted paths and
    sha256s, from M(statesafe.backup.etcd_files)) with those of the last complete archive, recorded in O(state_file) after its save. The record is only
    used while the archive's completeness marker is still in O(repository) (retention may have removed it).
  - With O(force) the run saves. Otherwise a run within O(min_interval) of the last complete archive is skipped,
    and with O(skip_unchanged) a run that finds the revision and the files as they were is skipped.
  - Reads only.
options:
  state_file:
    description: The JSON record of the last complete archive (the etcd role keeps it next to the repository).
    type: path
    required: true
  repository:
    description: The local bup repository holding the archives (for the completeness marker).
    type: path
    required: true
  branch:
    description: The archives' bup branch.
    type: str
    required: true
  revision:
    description: etcd's current revision (M(statesafe.backup.etcd_snapshot) C(action=revision)).
    type: int
    required: true
  files_digest:
    description: The digest of the files to save (RV(statesafe.backup.etcd_files#module:digest)).
    type: str
    required: true
  skip_unchanged:
    description: Skip a run that finds the revision and the files unchanged.
    type: bool
    default: true
  min_interval:
    description: Skip a run younger than this after the last complete archive (seconds, or 30m, 6h, 1d, 1w); 0 for none.
    type: raw
    default: 0
  force:
    description: Save whatever the comparison says.
    type: bool
    default: false
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Reads only.
    support: full
seealso:
  - module: statesafe.backup.etcd_snapshot
"""

EXAMPLES = r"""
- name: Save or skip
  statesafe.backup.etcd_backup_decision:
    state_file: /var/lib/statesafe/bup/statesafe-state/etcd-cp1.json
    repository: /var/lib/statesafe/bup
    branch: etcd-cp1
    revision: "{{ etcd_now.revision }}"
    files_digest: "{{ collected.digest }}"
    min_interval: 1h
  register: decision
"""

RETURN = r"""
decision:
  description: C(run) (save or not), C(skipped_by) (null, C(min_interval) or C(unchanged)), C(reason), C(unchanged)
    (revision and files equal to the archive's), C(changes) (what differs), C(archive) and C(since) (the last
    complete archive's commit and time, null without one), C(next_allowed), C(revision), C(files_digest).
  returned: success
  type: dict
min_interval_seconds:
  description: O(min_interval) in seconds.
  returned: success
  type: int
"""

import time

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import local_file_error, run_module
from ansible_collections.statesafe.backup.plugins.module_utils.etcd import decision, ops

ARGUMENT_SPEC = dict(
    state_file=dict(type="path", required=True),
    repository=dict(type="path", required=True),
    branch=dict(type="str", required=True),
    revision=dict(type="int", required=True),
    files_digest=dict(type="str", required=True),
    skip_unchanged=dict(type="bool", default=True),
    min_interval=dict(type="raw", default=0),
    force=dict(type="bool", default=False),
)


def work(params):
    interval = decision.parse_interval(params["min_interval"])
    digest = params["files_digest"]
    state = ops.read_state(params["state_file"])
    commit = state.get("commit")
    marker = bool(commit) and ops.marker_present(params["repository"], params["branch"], commit)
    result = decision.decide(state, params["revision"], digest, time.time(), params["branch"], marker,
                             params["skip_unchanged"], interval, params["force"])
    return dict(changed=False, decision=result, min_interval_seconds=interval)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run_module(module, lambda: work(module.params),
                                  describe=local_file_error(module.params["state_file"])))


if __name__ == "__main__":
    main()
