#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: claim_workloads
short_description: Find the workloads that use a PersistentVolumeClaim, stop them, start them again
description:
  - The users of a claim are the pods that mount it. Each is followed through its controller C(ownerReferences) to the
    workload that scales it, a Deployment (Pod, ReplicaSet, Deployment), a StatefulSet or a ReplicaSet of its own.
  - C(operation=find) reads who uses the claim and at which replica count, changing nothing. The workloads named in
    I(workloads) are waited for until they exist and are ready, and are kept even when none of their pods mounts the
    claim now. A pod that mounts the claim with no owner that scales (a bare pod, a DaemonSet's, a Job's) is refused,
    naming the pod, its container and the path where it mounts the claim.
  - C(operation=stop) scales every workload of I(users) to 0 and waits until no pod mounts the claim any more
    (terminating pods included, since they still hold it).
  - C(operation=start) scales every workload of I(users) back to its C(replicas) and waits until each is ready.
  - A claim mounted by several running pods (C(ReadWriteMany), or several replicas) has all their owners in I(users).
  - Read the users with C(operation=find) before stopping them, and start them in an C(always) section, so a failure in
    between still starts them again at their replica counts.
version_added: 0.2.0
author:
  - statesafe maintainers (@statesafe)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: The namespace of the claim.
    type: str
    required: true
  claim:
    description: The PersistentVolumeClaim.
    type: str
    required: true
  operation:
    description: C(find) reads the users, C(stop) scales them to 0, C(start) scales them back.
    type: str
    choices: [find, stop, start]
    default: find
  workloads:
    description:
      - With C(operation=find), workloads known to use the claim, as C(Kind/name) (a bare name is a StatefulSet), with
        Kind one of C(Deployment), C(StatefulSet), C(ReplicaSet).
    type: list
    elements: str
    default: []
  users:
    description: With C(operation=stop) or C(operation=start), the C(users) that C(operation=find) returned.
    type: list
    elements: dict
    default: []
    suboptions:
      kind:
        description: C(Deployment), C(StatefulSet) or C(ReplicaSet).
        type: str
        required: true
      name:
        description: The workload's name.
        type: str
        required: true
      replicas:
        description: The replica count it is started again at.
        type: int
        required: true
  timeout:
    description:
      - Seconds to wait, for the named workloads to be ready (C(find)), for the claim's pods to be gone (C(stop)),
        or for the workloads to be ready again (C(start)).
    type: int
    default: 600
  poll_interval:
    description: Seconds between two checks.
    type: int
    default: 5
attributes:
  check_mode:
    description: C(find) runs as usual; C(stop) and C(start) report whether they would scale, and scale nothing.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Stopping stopped workloads, or starting workloads at their counts, changes nothing.
    support: full
notes:
  - Needs C(list) on pods and replicasets, C(get) on the workloads, and C(patch) on their C(scale) subresource
    (C(deployments/scale), C(statefulsets/scale), C(replicasets/scale)).
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: Who uses claim mysql-data (the Deployment mysql, waited for until ready)
  statesafe.backup.claim_workloads:
    namespace: shop
    claim: mysql-data
    workloads: [Deployment/mysql]
  register: users

- name: Write the data with its users stopped, and start them again whatever happens
  block:
    - name: Stop them
      statesafe.backup.claim_workloads:
        namespace: shop
        claim: mysql-data
        operation: stop
        users: "{{ users.users }}"
    - name: Write the data
      statesafe.backup.k8s_pv_copy:
        namespace: shop
        state: to_pod
        pvc: mysql-data
        local_path: /var/tmp/restore/volumes/mysql-data
  always:
    - name: Start them again at their replica counts, until ready
      statesafe.backup.claim_workloads:
        namespace: shop
        claim: mysql-data
        operation: start
        users: "{{ users.users }}"
"""

RETURN = r"""
users:
  description: The workloads that use the claim, each with C(kind), C(name) and C(replicas) (its count when read by
    C(operation=find), the count C(operation=start) starts it at).
  returned: always
  type: list
  elements: dict
  sample: [{kind: Deployment, name: mysql, replicas: 1}]
seconds:
  description: Seconds waited for the pods to be gone (C(stop)) or the workloads to be ready (C(start)).
  returned: always
  type: float
  sample: 4.2
error_location:
  description: On failure, the namespace, pod, container and path (the mount point) or workload the error is about.
  returned: failure
  type: dict
not_ready:
  description: On a timeout waiting for readiness, the workloads (C(Kind/name)) not ready.
  returned: failure
  type: list
  elements: str
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
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.claim_workloads import (
    ClaimWorkloads,
    run,
)

USER_SPEC = dict(
    kind=dict(type="str", required=True),
    name=dict(type="str", required=True),
    replicas=dict(type="int", required=True),
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    claim=dict(type="str", required=True),
    operation=dict(type="str", default="find", choices=["find", "stop", "start"]),
    workloads=dict(type="list", elements="str", default=[]),
    users=dict(type="list", elements="dict", default=[], options=USER_SPEC),
    timeout=dict(type="int", default=600),
    poll_interval=dict(type="int", default=5),
)


def main():
    module = AnsibleK8SModule(argument_spec=module_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    params = module.params
    result = run_k8s_module(module, lambda _client, api: run(
        ClaimWorkloads(api, params["namespace"], params["claim"]), params, check_mode=module.check_mode))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
