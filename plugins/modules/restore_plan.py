#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: restore_plan
short_description: Decide, per object and per volume or dump, what a restore does in a namespace
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Reads the archived objects a restore would apply, lists what the target namespace already holds of their kinds
    (one LIST request per kind, plus the kinds of the data components' workloads and claims) and decides for each object, from the
    policy of its kind, whether the restore creates, skips, updates, recreates or refuses it.
  - "An absent object is always created. A present one is refused (C(fail)), left as it is (C(skip)), applied over
    (C(update)) or deleted and created again (C(recreate)), by I(policy_by_kind) for its kind, else I(policy)."
  - A volume or a dump follows the policy of the kind of the workload it belongs to (the component's C(workload_kind)
    and C(workload_name), or C(statefulset) for a StatefulSet). Its data is restored when that workload is absent;
    when it is present, refused (C(fail)), kept (C(skip)) or overwritten (C(update), C(recreate)). A volume without a
    workload follows the policy of kind C(PersistentVolumeClaim) for its claim in the same way. A dump without a
    workload follows I(policy) and counts as present.
  - "With I(archive_commit), an object that carries the annotation C(statesafe.backup/restoring) with that commit was
    applied by a restore of the same archive that did not finish (the restore removes the annotation when it is
    complete): it is the restore's own, applied again (C(update)) whatever its policy, and the data of such a
    workload is written again (C(restore)), as is the data of a workload such an object controls (an operator's
    StatefulSet, made from the custom resource the unfinished restore applied). Objects without the annotation, or
    with another commit in it, follow the policy."
  - Changes nothing. C(changed) says whether the restore it plans would change the namespace, so that
    C(--check --diff) shows what would be created, updated, recreated and overwritten.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: The namespace the restore targets. A namespace that does not exist holds no objects.
    type: str
    required: true
  objects:
    description: The archived objects to restore, each a YAML file of the restored staging tree.
    type: list
    elements: dict
    required: true
    suboptions:
      kind:
        description: Kind of the object.
        type: str
        required: true
      name:
        description: Name of the object.
        type: str
        required: true
      api_version:
        description: API version of the kind.
        type: str
        default: v1
      path:
        description: The archived object's file.
        type: path
        required: true
      component:
        description: The profile component the object belongs to.
        type: str
      phase:
        description: When the restore applies it (C(early) or C(last)).
        type: str
  components:
    description: The volume and dump components of the restore.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description: Component name.
        type: str
        required: true
      type:
        description: Component type.
        type: str
        required: true
        choices: [volume, dump]
      statefulset:
        description: The StatefulSet the data belongs to (as I(workload_name) with I(workload_kind=StatefulSet)).
        type: str
      workload_kind:
        description: The kind of the workload the data belongs to.
        type: str
        choices: [StatefulSet, Deployment, ReplicaSet]
      workload_name:
        description: The name of the workload the data belongs to.
        type: str
      claim:
        description: The PersistentVolumeClaim of a volume.
        type: str
      pod:
        description: The pod a dump is loaded into.
        type: str
      loads:
        description:
          - For a dump, whether it has a restore command. Without one (K8up's annotations have none) the dump is
            not loaded - action C(leave) - and the restore says where the verified file is.
        type: bool
        default: true
      extension:
        description: The dump's file extension.
        type: str
  manifest:
    description: The staging tree's C(MANIFEST.json); its artifact sizes are reported for each volume and dump.
    type: path
  policy:
    description: The policy for kinds not in I(policy_by_kind).
    type: str
    default: fail
    choices: [fail, skip, update, recreate]
  policy_by_kind:
    description: "Policy per kind, for example C({Secret: skip, StatefulSet: recreate})."
    type: dict
    default: {}
  archive_commit:
    description:
      - The commit of the archive being restored. Objects whose C(statesafe.backup/restoring) annotation names it are
        the restore's own (left by an unfinished run of this restore). Without it, every present object follows the
        policy.
      - So are the objects named by the ConfigMap C(statesafe-restore-completing) when it names this commit. A run
        killed while it removed its marks (the restore's last step) left it, so a re-run finishes the completion.
    type: str
attributes:
  check_mode:
    description: Runs the same in check mode; it never changes anything.
    support: full
  diff_mode:
    description:
      - One entry per object that would be created, updated (when it differs) or recreated, before and after, and
        one per volume or dump that would be written. Secret values are replaced by C(<hidden>).
    support: full
  idempotent:
    description: Reads only.
    support: full
notes:
  - Requires the C(list) verb on every kind named in I(objects), on the kind of every workload I(components) name,
    and on PersistentVolumeClaims when a volume names none.
requirements:
  - kubernetes >= 24.2.0
  - PyYAML
"""

EXAMPLES = r"""
- name: What restoring into sf would do, Secrets kept, StatefulSets recreated
  statesafe.backup.restore_plan:
    namespace: sf
    objects:
      - kind: Secret
        name: mariadb-root-password
        path: /var/tmp/restore/sf/resources/Secret/mariadb-root-password.yaml
      - kind: StatefulSet
        api_version: apps/v1
        name: mariadb
        path: /var/tmp/restore/sf/resources/StatefulSet/mariadb.yaml
    components:
      - name: mariadb
        type: dump
        statefulset: mariadb
        pod: mariadb-0
        extension: sql
    manifest: /var/tmp/restore/sf/MANIFEST.json
    policy: fail
    policy_by_kind:
      Secret: skip
      StatefulSet: recreate
    archive_commit: 3f1c2d4e5b6a7988c0d1e2f3a4b5c6d7e8f90a1b
  register: plan
"""

RETURN = r"""
objects:
  description: Each object in the order given, with what the restore does with it.
  returned: always
  type: list
  elements: dict
  contains:
    key:
      description: C(Kind/name).
      type: str
      sample: Secret/mariadb-root-password
    policy:
      description: The policy that applies to its kind.
      type: str
      sample: skip
    present:
      description: Whether the namespace has it.
      type: bool
    ours:
      description: Whether it carries the mark of an unfinished restore of I(archive_commit) (then it is updated).
      type: bool
    mark:
      description: Whose unfinished restore left it, when it carries a C(statesafe.backup/restoring) mark; else null.
      type: str
      sample: left by an unfinished restore of another archive, commit 0123456789ab
    action:
      description: C(create), C(skip), C(update), C(recreate) or C(refuse).
      type: str
      sample: skip
    differs:
      description: Whether restoring it changes the namespace (C(update) of an identical object does not).
      type: bool
    uid:
      description: The UID of the object in the namespace, null when absent.
      type: str
data:
  description: Each volume and dump component, with what the restore does with its data.
  returned: always
  type: list
  elements: dict
  contains:
    workload:
      description: C(Kind/name) of the workload the data belongs to (for example C(Deployment/mysql)), or null.
      type: str
    claim_key:
      description: C(PersistentVolumeClaim/<claim>) for a volume that names no workload (its claim decides), else null.
      type: str
    present:
      description: Whether that workload (or that claim) exists in the namespace.
      type: bool
    ours:
      description: Whether that workload (or claim) carries the mark of an unfinished restore of I(archive_commit) (then the
        data is written again).
      type: bool
    policy:
      description: The policy that applies.
      type: str
    action:
      description: C(restore) (workload absent, or the restore's own), C(overwrite), C(skip), C(refuse), or
        C(leave) (a dump without a restore command, not loaded).
      type: str
    files:
      description: Files of the component in the manifest, null without a manifest.
      type: int
    bytes:
      description: Bytes of the component in the manifest, null without a manifest.
      type: int
resumed:
  description: What an unfinished restore of the same archive left and this one takes over, as C(Kind/name) and
    C(data of <component>).
  returned: always
  type: list
  elements: str
  sample: ["StatefulSet/mariadb", "data of mariadb"]
refused:
  description: What the policy refuses to overwrite, as C(Kind/name) or C(StatefulSet/<name> (data of <component>)),
    with whose unfinished restore left it when it carries a mark.
  returned: always
  type: list
  elements: str
  sample: ["Secret/mariadb-root-password", "StatefulSet/mariadb (data of mariadb)"]
counts:
  description: Number of objects and of data components per action.
  returned: always
  type: dict
  sample: {"objects": {"create": 3, "skip": 2}, "data": {"restore": 2}}
lines:
  description: One readable line per object and per data component.
  returned: always
  type: list
  elements: str
  sample: ["skip Secret/mariadb-root-password [skip]", "overwrite dump mariadb of StatefulSet/mariadb, 42 bytes [update]"]
list_requests:
  description: Number of LIST requests sent to the API server.
  returned: always
  type: int
error_location:
  description: On failure, the namespace, kind, name or path the error is about.
  returned: failure
  type: dict
"""

import json

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.connection import (
    module_argument_spec,
)
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    ApiError,
    ObjectNotFound,
    StatesafeError,
)
from ansible_collections.statesafe.backup.plugins.module_utils.capture import restore_mark
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.module import (
    run_k8s_module,
)
from ansible_collections.statesafe.backup.plugins.module_utils.capture.manifest_yaml import (
    load_yaml,
)
from ansible_collections.statesafe.backup.plugins.module_utils.capture.restore_policy import (
    CLAIM_KIND,
    POLICIES,
    build_plan,
    check_policies,
    data_owner,
    object_key,
)

OBJECT_SPEC = dict(
    kind=dict(type="str", required=True),
    name=dict(type="str", required=True),
    api_version=dict(type="str", default="v1"),
    path=dict(type="path", required=True),
    component=dict(type="str"),
    phase=dict(type="str"),
)

COMPONENT_SPEC = dict(
    name=dict(type="str", required=True),
    type=dict(type="str", required=True, choices=["volume", "dump"]),
    statefulset=dict(type="str"),
    workload_kind=dict(type="str", choices=["StatefulSet", "Deployment", "ReplicaSet"]),
    workload_name=dict(type="str"),
    claim=dict(type="str"),
    pod=dict(type="str"),
    extension=dict(type="str"),
    loads=dict(type="bool", default=True),
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    objects=dict(type="list", elements="dict", required=True, options=OBJECT_SPEC),
    components=dict(type="list", elements="dict", default=[], options=COMPONENT_SPEC),
    manifest=dict(type="path"),
    policy=dict(type="str", default="fail", choices=list(POLICIES)),
    policy_by_kind=dict(type="dict", default={}),
    archive_commit=dict(type="str"),
)


def _read_archived(objects, namespace):
    archived = {}
    for obj in objects:
        try:
            with open(obj["path"], "rb") as handle:
                archived[object_key(obj["kind"], obj["name"])] = load_yaml(handle.read())
        except (OSError, IOError, ValueError) as exc:
            raise StatesafeError("cannot read the archived object: {0}".format(exc), namespace=namespace,
                                 kind=obj["kind"], name=obj["name"], path=obj["path"]) from exc
    return archived


def _read_artifacts(path, namespace):
    if not path:
        return []
    try:
        with open(path, "rb") as handle:
            return json.loads(handle.read().decode("utf-8")).get("artifacts") or []
    except (OSError, IOError, ValueError) as exc:
        raise StatesafeError("cannot read the manifest: {0}".format(exc), namespace=namespace, path=path) from exc


def _list_live(api, namespace, objects, components):
    kinds = []
    for obj in objects:
        if (obj["api_version"], obj["kind"]) not in kinds:
            kinds.append((obj["api_version"], obj["kind"]))
    for component in components:
        kind = data_owner(component)[0]
        if kind and kind not in [pair[1] for pair in kinds]:
            kinds.append(("v1" if kind == CLAIM_KIND else "apps/v1", kind))
    live = {}
    for api_version, kind in kinds:
        rtype = api.resource_type(api_version, kind)
        for item in api.list_items(rtype, namespace):
            live[object_key(kind, item["metadata"]["name"])] = item
    return live, len(kinds)


def _read_sentinel(api, namespace):
    """The sentinel ConfigMap of an interrupted completion (restore_mark), or None when there is none or the identity
    may not read ConfigMaps (then nothing is taken over on its account)."""
    try:
        return api.request("GET", "/api/v1/namespaces/{0}/configmaps/{1}".format(namespace, restore_mark.SENTINEL),
                           location=dict(namespace=namespace, kind="ConfigMap", name=restore_mark.SENTINEL))
    except ObjectNotFound:
        return None
    except ApiError as exc:
        if exc.status == 403:
            return None
        raise


def plan_restore(api, params, want_diff):
    """The module's work: read the archive's objects and manifest, list the namespace, decide."""
    namespace = params["namespace"]
    check_policies(params["policy"], params["policy_by_kind"])
    archived = _read_archived(params["objects"], namespace)
    artifacts = _read_artifacts(params["manifest"], namespace)
    live, requests = _list_live(api, namespace, params["objects"], params["components"])
    commit = params["archive_commit"]
    live = restore_mark.remarked(live, restore_mark.completing_keys(_read_sentinel(api, namespace), commit), commit)
    plan = build_plan(params["objects"], archived, live, params["components"], artifacts, params["policy"],
                      params["policy_by_kind"], want_diff=want_diff, commit=commit)
    result = dict(changed=plan.pop("would_change"), list_requests=requests, **plan)
    if not want_diff:
        result.pop("diff")
    return result


def main():
    module = AnsibleK8SModule(argument_spec=module_argument_spec(ARGUMENT_SPEC), supports_check_mode=True)
    result = run_k8s_module(module, lambda _client, api: plan_restore(api, module.params, module._diff))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
