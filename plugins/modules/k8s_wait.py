#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_wait
short_description: Wait until objects of a namespace are ready, or gone, polling in one process
version_added: 0.2.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Lists the objects of one kind in a namespace (by O(name), by O(label_selectors), or all of them) every
    O(poll_interval) seconds until they reach the state O(until) names, or O(timeout) seconds have passed.
  - One module process polls with one LIST request each time. The same wait as an Ansible C(until) loop over
    C(kubernetes.core.k8s_info) starts a worker and a module process for every poll, which on a small controller
    costs more CPU than the pods it waits for take to start.
  - Fails when the state is not reached in time, returning the objects as last seen, so a C(rescue) can say what
    they report.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: The namespace of the objects.
    type: str
    required: true
  api_version:
    description: API version of the kind.
    type: str
    default: v1
  kind:
    description: The kind of the objects.
    type: str
    required: true
  name:
    description: Only the object of this name.
    type: str
  label_selectors:
    description: Only the objects with these labels (C(key=value), C(key!=value), C(key); all must match).
    type: list
    elements: str
    default: []
  until:
    description:
      - V(absent) - no object is found.
      - V(workload_ready) - exactly one StatefulSet or Deployment is found and it is rolled out, every replica ready
        (a StatefulSet) or available (a Deployment).
      - V(statefulsets_ready) - every StatefulSet of O(names) exists and is rolled out with every replica ready
        (O(kind) StatefulSet).
      - V(ready) - exactly one object is found and it reports ready as O(ready) says.
      - V(job_finished) - exactly one Job is found and it has succeeded or failed (O(kind) Job).
    type: str
    required: true
    choices: [absent, workload_ready, statefulsets_ready, ready, job_finished]
  names:
    description: With O(until=statefulsets_ready), the StatefulSets that must be ready; defaults to O(name).
    type: list
    elements: str
    default: []
  ready:
    description:
      - With O(until=ready), what ready means, a profile's C(ready) description - C(condition) (the condition of that
        type in C(status.conditions) is C(True)), or C(path) (a dotted path into the object) and C(value) (what it
        must equal, default V(true)).
    type: dict
    default: {}
  timeout:
    description: Seconds to wait at most.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two polls.
    type: int
    default: 5
attributes:
  check_mode:
    description: Reads only; waits the same in check mode.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Reads only.
    support: full
notes:
  - Needs C(list) on the kind.
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: Until the StatefulSet mariadb is rolled out and ready
  statesafe.backup.k8s_wait:
    namespace: sf
    api_version: apps/v1
    kind: StatefulSet
    name: mariadb
    until: statefulsets_ready
    timeout: 600

- name: Until none of the operator's pods runs
  statesafe.backup.k8s_wait:
    namespace: sf-operator
    kind: Pod
    label_selectors: [app=sf-operator]
    until: absent

- name: Until the custom resource says it is ready
  statesafe.backup.k8s_wait:
    namespace: sf
    api_version: sf.softwarefactory-project.io/v1
    kind: SoftwareFactory
    name: my-sf
    until: ready
    ready: {path: status.ready, value: true}
"""

RETURN = r"""
done:
  description: Whether the state was reached.
  returned: always
  type: bool
resources:
  description: The objects found by the last poll.
  returned: always
  type: list
  elements: dict
attempts:
  description: How many polls were made.
  returned: always
  type: int
seconds:
  description: How long the wait took.
  returned: always
  type: float
"""

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.connection import (
    module_argument_spec,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.module import (
    run_k8s_module,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.wait import (
    Lister,
    job_finished,
    wait_until,
)
from ansible_collections.statesafe.backup.plugins.module_utils.profile import (
    operator,
    restore,
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    api_version=dict(type="str", default="v1"),
    kind=dict(type="str", required=True),
    name=dict(type="str"),
    label_selectors=dict(type="list", elements="str", default=[]),
    until=dict(type="str", required=True,
               choices=["absent", "workload_ready", "statefulsets_ready", "ready", "job_finished"]),
    names=dict(type="list", elements="str", default=[]),
    ready=dict(type="dict", default={}),
    timeout=dict(type="int", default=600),
    poll_interval=dict(type="int", default=5),
)

WHAT = {
    "absent": "gone",
    "workload_ready": "rolled out and ready",
    "statefulsets_ready": "rolled out and ready",
    "ready": "ready",
    "job_finished": "finished",
}


def condition(params):
    """The test of one poll's objects that ends the wait."""
    until = params["until"]
    if until == "absent":
        return lambda resources: not resources
    if until == "workload_ready":
        return operator.found_ready
    if until == "job_finished":
        return job_finished
    if until == "statefulsets_ready":
        names = params["names"] or [params["name"]]
        return lambda resources: not restore.unready_statefulsets(resources, names)
    return lambda resources: restore.object_ready(resources, params["ready"])


def described(params):
    """The objects waited for, as a message names them."""
    if params["name"]:
        which = "{0} {1}".format(params["kind"], params["name"])
    elif params["label_selectors"]:
        which = "{0} objects with labels {1}".format(params["kind"], ",".join(params["label_selectors"]))
    else:
        which = "{0} {1}".format(params["kind"], ", ".join(params["names"]))
    return "{0} in namespace {1}".format(which, params["namespace"])


def check(module):
    params = module.params
    if params["until"] == "statefulsets_ready" and not (params["names"] or params["name"]):
        module.fail_json(msg="until=statefulsets_ready needs names (or name)")
    if params["until"] == "ready" and not ("condition" in params["ready"] or "path" in params["ready"]):
        module.fail_json(msg="until=ready needs ready with a condition or a path")


def main():
    module = AnsibleK8SModule(argument_spec=module_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    check(module)
    params = module.params
    selector = ",".join(params["label_selectors"]) or None
    result = run_k8s_module(module, lambda _client, api: wait_until(
        Lister(api, params["api_version"], params["kind"], params["namespace"], params["name"], selector),
        condition(params), params["timeout"], params["poll_interval"]))
    if not result["done"]:
        module.fail_json(msg="{0}: not {1} after {2} s ({3} polls)".format(
            described(params), WHAT[params["until"]], result["seconds"], result["attempts"]), **result)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
