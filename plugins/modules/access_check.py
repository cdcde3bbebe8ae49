#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: access_check
short_description: Check that the current identity may do every verb a plan needs in a namespace
description:
  - Asks the API server who the current identity is (SelfSubjectReview), whether the namespace exists, and makes
    one SelfSubjectAccessReview per distinct verb and resource in O(checks).
  - A check given by C(kind) is resolved to its resource name through API discovery, so a custom resource whose
    plural is irregular is checked under its real name, and a kind the server does not serve fails naming it.
  - Fails when any verb is denied, naming every denied verb and resource, the namespace and the user.
  - When the identity may not read Namespace objects (a namespace admin usually cannot), the namespace's existence
    is left unknown rather than treated as an error.
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: The namespace the plan works in.
    type: str
    required: true
  checks:
    description:
      - What to check. Each item has C(verb) and either C(kind) with C(api_version) (default V(v1)), resolved through
        discovery, or C(resource) with C(group) (default the core group); C(subresource) is optional (V(exec)).
    type: list
    elements: dict
    required: true
attributes:
  check_mode:
    description: Reviews change nothing; they run in check mode too.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Only reads.
    support: full
notes:
  - Needs nothing beyond what every authenticated user has (C(system:basic-user), C(system:discovery)).
requirements:
  - kubernetes >= 24.2.0
"""

EXAMPLES = r"""
- name: May this identity back up the Software Factory stack?
  statesafe.backup.access_check:
    namespace: sf
    checks:
      - {verb: list, kind: Secret}
      - {verb: list, kind: SoftwareFactory, api_version: sf.softwarefactory-project.io/v1}
      - {verb: create, resource: pods, subresource: exec}
"""

RETURN = r"""
user:
  description: The user name the API server sees (empty when SelfSubjectReview is not served).
  returned: always
  type: str
  sample: system:serviceaccount:sf:backup
namespace_found:
  description: True when the namespace was read, null when the identity may not read Namespace objects.
  returned: always
  type: bool
namespace_labels:
  description:
    - The namespace's labels (PodSecurity's among them) when it was read, null when the identity may not read it.
    - The backup records them so that a restore which has to create the namespace gives it the same admission.
  returned: always
  type: dict
  sample: {"pod-security.kubernetes.io/enforce": "restricted"}
reviews:
  description: One entry per distinct check, the SelfSubjectAccessReview attributes plus C(allowed) and C(reason).
  returned: always
  type: list
  elements: dict
denied:
  description: The denied checks, as C(verb resource[.group][/subresource]).
  returned: always
  type: list
  elements: str
  sample: [create pods/exec]
error_location:
  description: On failure, the namespace the error is about.
  returned: failure
  type: dict
"""

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.access_review import (
    run,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.connection import (
    module_argument_spec,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.module import (
    run_k8s_module,
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    checks=dict(type="list", elements="dict", required=True),
)


def main():
    module = AnsibleK8SModule(argument_spec=module_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    result = run_k8s_module(module, lambda _client, api: run(api, module.params["namespace"], module.params["checks"]))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
