#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: backup_revisions
short_description: Take the revisions of a profile's components and decide whether a scheduled backup runs
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Takes one cheap revision per component, a value that changes whenever the component's data changes. A
    C(resources) component's revision is built in (sha256 over the files the export would write, from one LIST per
    kind). A C(dump) or C(volume) component's revision is the output of its profile key
    C(revision) C({command, pod, container, timeout}), run with exec (pod and container default to the component's).
    A component without a probe has no revision and always counts as changed.
  - A probe that fails leaves its component without a revision and is reported as a warning naming the namespace,
    pod and container; it never fails the task (the backup then runs).
  - Reads the state file of the branch (written after the last save marked complete) and decides whether this run
    backs up or is skipped because the last complete archive is younger than O(min_interval) or, with
    O(skip_unchanged), because every revision equals the one recorded with it. O(force) always runs.
  - Reads only; runs the profile's probe commands, which must not change anything.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: Namespace of the application.
    type: str
    required: true
  components:
    description: The profile's components (C(name), C(type), and C(resources), C(pod), C(container), C(revision)).
    type: list
    elements: dict
    required: true
  branch:
    description: The save set; a state file of another branch is not used.
    type: str
    default: ""
  state_file:
    description: The branch's state file (JSON); none yet means there is no complete archive to compare with.
    type: path
  repository:
    description: The bup repository (a local path). When given, the archive the state file names must still be
      marked complete there (C(refs/tags/complete/BRANCH/COMMIT)), or the state is not used.
    type: path
  skip_unchanged:
    description: Skip the run when every component's revision equals the last complete archive's.
    type: bool
    default: false
  min_interval:
    description: Skip the run when the last complete archive is younger than this (seconds, or V(30m), V(6h),
      V(1d), V(1w)); V(0) for none.
    type: raw
    default: 0
  force:
    description: Always run (ignore O(skip_unchanged) and O(min_interval)); the revisions are still taken.
    type: bool
    default: false
attributes:
  check_mode:
    description: Reads and probes only; the same in check mode.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Reads only; the same answer until the application or the state file changes.
    support: full
notes:
  - Requires C(list) on the exported kinds, and C(get) on pods and C(create) on C(pods/exec) for exec probes.
requirements:
  - kubernetes >= 24.2.0
  - websocket-client
"""

EXAMPLES = r"""
- name: Revisions, and whether this scheduled run backs up
  statesafe.backup.backup_revisions:
    namespace: sf
    components: "{{ profile.components }}"
    branch: softwarefactory
    state_file: /srv/bup/statesafe-state/softwarefactory.json
    skip_unchanged: true
    min_interval: 6h
  register: revisions
"""

RETURN = r"""
revisions:
  description: Per component, its revision (C(sha256:<hex>)), or null when it has none.
  returned: always
  type: dict
probes:
  description: Per component, how its revision was taken (C(method) resources, exec or none, C(pod), C(container),
    C(seconds)) and C(error) when the probe failed.
  returned: always
  type: list
  elements: dict
state:
  description: The state file's document (last complete archive, its time and revisions), or an empty dict.
  returned: always
  type: dict
decision:
  description: Whether the run backs up, and why.
  returned: always
  type: dict
  contains:
    run:
      description: Whether this run backs up.
      type: bool
    skipped_by:
      description: null, V(min_interval) or V(unchanged).
      type: str
    reason:
      description: One sentence saying why (which archive is current, since when, which components were compared).
      type: str
    unchanged:
      description: Whether every revision equals the last complete archive's (that archive is still current).
      type: bool
    compared:
      description: The components compared.
      type: list
      elements: str
    changed:
      description: The components that changed or have no revision, each with C(name) and C(why).
      type: list
      elements: dict
    archive:
      description: Commit of the last complete archive, or null.
      type: str
    since:
      description: When that archive was saved (UTC, ISO 8601), or null.
      type: str
    next_allowed:
      description: With O(min_interval), when the next run may back up (UTC, ISO 8601).
      type: str
min_interval:
  description: O(min_interval) in seconds.
  returned: always
  type: int
problems:
  description: Why a probe failed or the state file was not used (also given as warnings).
  returned: always
  type: list
  elements: str
error_location:
  description: On failure, the namespace, pod and container the error is about.
  returned: failure
  type: dict
"""

import time

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)
from ansible_collections.statesafe.backup.plugins.module_utils.capture import revisions as rev
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.connection import (
    module_argument_spec,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.module import (
    run_k8s_module,
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    components=dict(type="list", elements="dict", required=True),
    branch=dict(type="str", default=""),
    state_file=dict(type="path"),
    repository=dict(type="path"),
    skip_unchanged=dict(type="bool", default=False),
    min_interval=dict(type="raw", default=0),
    force=dict(type="bool", default=False),
)


def work(k8s_client, api, params):
    min_interval = rev.parse_duration(params["min_interval"])
    plan = rev.probe_plan(params["components"])
    state, state_problem = rev.read_state(params["state_file"])
    if state and params["repository"] and params["branch"]:
        commit = (state.get("archive") or {}).get("commit") if isinstance(state, dict) else None
        if not commit or not rev.archive_still_complete(params["repository"], params["branch"], commit):
            state_problem = "the archive {0} named by {1} is no longer marked complete in {2}: this run backs up".format(
                commit, params["state_file"], params["repository"])
            state = None
    revisions, probes = rev.take_revisions(k8s_client, api, params["namespace"], plan)
    decision = rev.decide(state, revisions, time.time(), params["namespace"], params["branch"],
                          params["skip_unchanged"], min_interval, params["force"])
    warnings = [p["error"] for p in probes if p["error"]] + ([state_problem] if state_problem else [])
    return dict(changed=False, revisions=revisions, probes=probes, state=state or {}, decision=decision,
                min_interval=min_interval, problems=warnings)


def main():
    module = AnsibleK8SModule(argument_spec=module_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    result = run_k8s_module(module, lambda client, api: work(client, api, module.params),
                            local_path=module.params["state_file"])
    for warning in result["problems"]:
        module.warn(warning)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
