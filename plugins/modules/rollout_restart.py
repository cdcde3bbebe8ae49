#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: rollout_restart
short_description: Restart the workloads that use a Secret or ConfigMap a restore changed, and wait for them
description:
  - Takes a restore plan (the C(objects) and C(data) that M(statesafe.backup.restore_plan) returned) after the restore
    applied it. The Secrets and ConfigMaps it created, recreated or updated with a different content are the changed
    configuration.
  - Every Deployment, StatefulSet and DaemonSet of the namespace whose pod template reads a changed one (C(env),
    C(envFrom), a C(secret), C(configMap) or C(projected) volume) is restarted as C(kubectl rollout restart) does it
    (a new C(kubectl.kubernetes.io/restartedAt) annotation in its pod template), then waited for as
    C(kubectl rollout status) does.
  - Left alone, and reported with the reason, are the workloads whose pods started after the configuration was written
    anyway (created or recreated by the restore, scaled to 0 and back for their volume or dump data, or whose every
    running pod was created after the newest write of what it reads, as when the restore rolled it or an operator
    made it), those that run no pod (0 replicas), and those whose update strategy is C(OnDelete) (a template change
    restarts nothing there).
  - A pod created in the same second as the write counts as older, since the API server's times have whole seconds;
    the doubt costs a restart, never a pod left on the old values.
version_added: 0.2.0
author:
  - statesafe maintainers (@statesafe)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: The namespace restored into.
    type: str
    required: true
  plan_objects:
    description: The C(objects) of the restore plan.
    type: list
    elements: dict
    required: true
  plan_data:
    description: The C(data) of the restore plan.
    type: list
    elements: dict
    default: []
  wait:
    description: Wait until every restarted workload has finished its rollout.
    type: bool
    default: true
  timeout:
    description: Seconds to wait for all rollouts together; the module fails naming each workload not done by then.
    type: int
    default: 600
  poll_interval:
    description: Seconds between two checks of the rollouts.
    type: int
    default: 5
attributes:
  check_mode:
    description: Reports which workloads would be restarted, restarts none.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Every run restarts the users of what the plan changed again.
    support: none
notes:
  - Needs C(list) and C(patch) on Deployments, StatefulSets and DaemonSets (apps), C(list) on pods and C(get) on the
    changed Secrets and ConfigMaps (only their metadata is used) in the namespace.
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: Restart what uses the Secrets and ConfigMaps the restore changed
  statesafe.backup.rollout_restart:
    namespace: sf
    plan_objects: "{{ plan.objects }}"
    plan_data: "{{ plan.data }}"
    timeout: 600
"""

RETURN = r"""
changed_config:
  description: The Secrets and ConfigMaps the plan changed, as C(Kind/name).
  returned: always
  type: list
  elements: str
  sample: [ConfigMap/zuul-config]
restarted:
  description: The workloads restarted (in check mode, that would be), each with C(workload), C(uses) (the changed
    objects it reads) and C(seconds) (its rollout, when waited for).
  returned: always
  type: list
  elements: dict
left_alone:
  description: Users of changed configuration that were not restarted, each with C(workload), C(uses) and C(reason)
    (its pods started after the change, it runs no pod, or its update strategy is C(OnDelete)).
  returned: always
  type: list
  elements: dict
error_location:
  description: On failure, the namespace (and workload) the error is about.
  returned: failure
  type: dict
restarted_done:
  description: On a rollout timeout, the restarted workloads that finished.
  returned: failure
  type: list
  elements: str
restarted_not_done:
  description: On a rollout timeout, the restarted workloads that did not finish.
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
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.rollout import (
    Restarter,
    run,
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    plan_objects=dict(type="list", elements="dict", required=True),
    plan_data=dict(type="list", elements="dict", default=[]),
    wait=dict(type="bool", default=True),
    timeout=dict(type="int", default=600),
    poll_interval=dict(type="int", default=5),
)


def main():
    module = AnsibleK8SModule(argument_spec=module_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    params = module.params
    result = run_k8s_module(module, lambda _client, api: run(
        Restarter(api, params["namespace"]), params, check_mode=module.check_mode))
    module.exit_json(changed=bool(result["restarted"]) and not module.check_mode, **result)


if __name__ == "__main__":
    main()
