#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: resource_export
short_description: Export Kubernetes objects as deterministic YAML files, stripped for re-apply
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Lists the selected objects (built-in kinds and custom resources) with one API LIST request per kind and label
    selector, strips the fields the cluster owns, and writes one YAML file per object to I(dest)/<Kind>/<name>.yaml
    with sorted keys, so that the same objects always give the same bytes.
  - Can also export the objects a custom resource refers to, for example the Secrets named in its spec.
  - A file is rewritten only when its bytes or its mode differ; C(changed) reports exactly that comparison.
    Files are replaced atomically (write to a temporary file, then rename).
  - Secret files are written with mode C(0600) in a C(0700) directory. C(--diff) shows the keys of a Secret but
    never its values.
  - Removed from every object are C(status), C(metadata.uid), C(resourceVersion), C(generation),
    C(creationTimestamp), C(deletionTimestamp), C(deletionGracePeriodSeconds), C(managedFields), C(selfLink),
    the C(kubectl.kubernetes.io/last-applied-configuration) annotation and, unless
    I(strip_owner_references=false), C(ownerReferences). Labels, annotations, C(type), C(data) and C(spec) are kept.
    A few kinds lose fields the cluster assigns (Service C(spec.clusterIP)/C(spec.clusterIPs),
    PersistentVolumeClaim C(spec.volumeName) and its binding annotations, Pod C(spec.nodeName)).
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description:
      - Namespace to export from. Cluster-scoped kinds are listed cluster-wide.
    type: str
    required: true
  dest:
    description:
      - Local directory that receives C(<Kind>/<name>.yaml). Created (mode C(0700)) if missing.
    type: path
    required: true
  resources:
    description:
      - What to export, in order. Each entry selects one kind.
    type: list
    elements: dict
    required: true
    suboptions:
      api_version:
        description: API group and version, for example C(v1) or C(sf.softwarefactory-project.io/v1).
        type: str
        default: v1
      kind:
        description: Kind as the API names it, for example C(Secret) or C(SoftwareFactory).
        type: str
        required: true
      names:
        description: Only these objects. Missing ones are an error unless I(optional=true).
        type: list
        elements: str
      label_selectors:
        description: Label selectors, all of which must match (joined with commas, evaluated by the API server).
        type: list
        elements: str
      optional:
        description:
          - When true, a kind the API server does not serve and named objects that do not exist are skipped and
            reported in RV(skipped_selections) instead of failing the task.
        type: bool
        default: false
      references:
        description:
          - Objects that the selected objects refer to, exported after them.
        type: list
        elements: dict
        suboptions:
          api_version:
            description: API version of the referenced objects.
            type: str
            default: v1
          kind:
            description: Kind of the referenced objects, for example C(Secret).
            type: str
            required: true
          paths:
            description:
              - Paths into the referring object whose values are names, for example
                C(spec.zuul.gerritconns[*].secret) or C(metadata.annotations['example.com/secret']).
              - A value may be a string, an object with a C(name) key, or a list of either.
            type: list
            elements: str
          field_names:
            description:
              - Keys searched for anywhere under C(spec), for example C(secretName); their values are names as for
                I(paths).
            type: list
            elements: str
          optional:
            description: Skip referenced objects that do not exist instead of failing.
            type: bool
            default: false
  strip_owner_references:
    description:
      - Remove C(metadata.ownerReferences). Owner UIDs do not survive a restore and a dangling owner makes the
        garbage collector delete the restored object, so this is on by default.
    type: bool
    default: true
  strip_namespace:
    description: Remove C(metadata.namespace), so the files can be applied to another namespace.
    type: bool
    default: false
  strip_paths:
    description: More paths to remove from every object, for example C(spec.template.metadata.annotations).
    type: list
    elements: str
  prune:
    description:
      - Remove C(.yaml) files in the exported kinds' directories that this run did not produce (objects deleted
        since the last export). Leave false when several tasks export the same kind into one I(dest).
    type: bool
    default: false
attributes:
  check_mode:
    description: Computes every file and reports what would change; writes nothing.
    support: full
  diff_mode:
    description: Shows before and after of each changed file; Secret values are replaced by C(<hidden>).
    support: full
  idempotent:
    description: A second run with the same objects rewrites nothing and reports C(changed=false).
    support: full
notes:
  - Files are written with PyYAML's C-accelerated emitter when available.
  - Requires the C(list) verb on every exported kind in I(namespace).
seealso:
  - module: kubernetes.core.k8s_info
requirements:
  - kubernetes >= 24.2.0
  - PyYAML
"""

EXAMPLES = r"""
- name: Export Secrets and ConfigMaps of the Software Factory, and the Secrets its CR refers to
  statesafe.backup.resource_export:
    namespace: sf
    dest: /var/backups/staging/resources
    resources:
      - kind: ConfigMap
        label_selectors: ["app=sf"]
      - api_version: sf.softwarefactory-project.io/v1
        kind: SoftwareFactory
        optional: true
        references:
          - kind: Secret
            field_names: [secret, secretName]
      - kind: Secret
        names: [zuul-keystore-password, mariadb-root-password]

- name: Same connection options for our modules and kubernetes.core's
  module_defaults:
    group/statesafe.backup.k8s:
      kubeconfig: ~/.kube/backup-sa
  block:
    - name: Export all Secrets, dropping the files of deleted ones
      statesafe.backup.resource_export:
        namespace: sf
        dest: /var/backups/staging/resources
        prune: true
        resources:
          - kind: Secret
"""

RETURN = r"""
objects:
  description:
    - Every exported object, in export order. Secret files have mode C(0600), the others C(0644).
  returned: always
  type: list
  elements: dict
  contains:
    kind:
      description: Kind of the object.
      type: str
      sample: Secret
    name:
      description: Name of the object.
      type: str
      sample: zuul-keystore-password
    path:
      description: File written (or that would be written in check mode).
      type: str
      sample: /var/backups/staging/resources/Secret/zuul-keystore-password.yaml
    size:
      description: Size of the file content in bytes.
      type: int
      sample: 412
    sha256:
      description: SHA-256 of the file content.
      type: str
      sample: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    changed:
      description: Whether this file was (or would be) written.
      type: bool
removed:
  description: Files removed by I(prune).
  returned: always
  type: list
  elements: str
skipped_selections:
  description: What optional selections or references skipped, kinds the API server does not serve and named
    objects that do not exist.
  returned: always
  type: list
  elements: dict
  contains:
    api_version:
      description: API version asked for.
      type: str
    kind:
      description: Kind asked for.
      type: str
    reason:
      description: Why it was skipped.
      type: str
list_requests:
  description: Number of LIST requests sent to the API server.
  returned: always
  type: int
  sample: 3
error_location:
  description: On failure, the namespace, kind and name the error is about.
  returned: failure
  type: dict
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
from ansible_collections.statesafe.backup.plugins.module_utils.capture.resource_export import (
    export,
)

REFERENCE_SPEC = dict(
    api_version=dict(type="str", default="v1"),
    kind=dict(type="str", required=True),
    paths=dict(type="list", elements="str"),
    field_names=dict(type="list", elements="str"),
    optional=dict(type="bool", default=False),
)

SELECTION_SPEC = dict(
    api_version=dict(type="str", default="v1"),
    kind=dict(type="str", required=True),
    names=dict(type="list", elements="str"),
    label_selectors=dict(type="list", elements="str"),
    optional=dict(type="bool", default=False),
    references=dict(
        type="list",
        elements="dict",
        options=REFERENCE_SPEC,
        required_one_of=[("paths", "field_names")],
    ),
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    dest=dict(type="path", required=True),
    resources=dict(type="list", elements="dict", required=True, options=SELECTION_SPEC),
    strip_owner_references=dict(type="bool", default=True),
    strip_namespace=dict(type="bool", default=False),
    strip_paths=dict(type="list", elements="str", no_log=False),
    prune=dict(type="bool", default=False),
)


def main():
    module = AnsibleK8SModule(argument_spec=module_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    result = run_k8s_module(
        module, lambda _client, api: export(api, module.params, check_mode=module.check_mode, want_diff=module._diff),
        local_path=module.params["dest"])
    module.exit_json(**result)


if __name__ == "__main__":
    main()
