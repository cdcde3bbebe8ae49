#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: namespace_discover
short_description: The profile of a whole namespace, from what the API server lists in it (namespace mode)
description:
  - Asks API discovery for every namespaced kind the server serves, lists each one that offers list, get and create
    (as metadata only, so no Secret value is read), and returns an ordinary profile that backs up and restores the
    namespace (docs/namespace-mode.md).
  - Left out are objects owned by another listed object (their owner makes them again), kinds the cluster keeps up
    itself (Events, Leases, ControllerRevisions, CSIStorageCapacities), the Endpoints of a Service with a selector,
    objects the cluster makes in every namespace (the default ServiceAccount, kube-root-ca.crt; OpenShift's own),
    legacy ServiceAccount token Secrets, and what O(exclude) names. RV(left_out) lists each with the reason.
  - A kind the identity may not list, and an API group whose discovery fails, are RV(problems) unless O(exclude)
    names them; the module does not fail on them, so the caller can report them all.
  - Every bound claim becomes a volume component; a claim in another phase is in RV(pending_claims) (its object is
    still backed up), never waited for.
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: The namespace to describe.
    type: str
    required: true
  name:
    description: The profile's name (the archive's default branch).
    type: str
    default: namespace
  exclude:
    description:
      - What to leave out. Each item has C(kind) (V(*) for every kind of the C(api_version)'s group), optionally
        C(api_version) (any version of its group matches) and C(names); without C(names) the whole kind is left
        out, and a kind left out whole may be one the identity cannot list.
    type: list
    elements: dict
    default: []
  description:
    description: The profile's description.
    type: str
  hooks:
    description: Run-wide hooks for the profile (the profile reference's C(hooks)).
    type: dict
attributes:
  check_mode:
    description: Only reads; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Only reads.
    support: full
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: What would namespace mode back up in namespace shop?
  statesafe.backup.namespace_discover:
    namespace: shop
    exclude:
      - kind: Secret
        names: [scratch-credentials]
      - kind: "*"
        api_version: metrics.k8s.io/v1beta1
  register: shop
"""

RETURN = r"""
profile:
  description: The profile (name, label_selector, components and the given description and hooks).
  returned: success
  type: dict
objects:
  description: How many objects the profile's resources components name.
  returned: success
  type: int
kinds:
  description: Every kind that was listed, as api_version/kind.
  returned: success
  type: list
  elements: str
left_out:
  description: Kinds and objects left out, each with api_version, kind, name (objects only) and reason.
  returned: success
  type: list
  elements: dict
pending_claims:
  description: Claims that are not Bound, with their phase; their data is not copied.
  returned: success
  type: list
  elements: dict
unlistable:
  description: Kinds the identity may not list, with the HTTP status.
  returned: success
  type: list
  elements: dict
unavailable:
  description: API groups whose discovery failed, with the error.
  returned: success
  type: list
  elements: dict
problems:
  description: Why the profile cannot be used as it is; empty when it can.
  returned: success
  type: list
  elements: str
list_requests:
  description: LIST requests sent.
  returned: success
  type: int
"""

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.connection import (
    module_argument_spec,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.discovery import (
    discover,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.module import (
    run_k8s_module,
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    name=dict(type="str", default="namespace"),
    exclude=dict(type="list", elements="dict", default=[]),
    description=dict(type="str"),
    hooks=dict(type="dict"),
)


def main():
    module = AnsibleK8SModule(argument_spec=module_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    params = module.params
    result = run_k8s_module(module, lambda _client, api: discover(
        api, params["namespace"], params["name"], params["exclude"], params["description"], params["hooks"]))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
