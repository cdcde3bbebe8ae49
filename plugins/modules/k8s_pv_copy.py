#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: k8s_pv_copy
short_description: Mirror a directory of a pod or a PersistentVolumeClaim to or from a local directory
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Copies a directory tree between a local directory and either a path in a pod's container (I(pod)) or a
    PersistentVolumeClaim (I(pvc)) mounted by a short-lived helper pod. The helper runs on the node of the pod that
    already uses the claim (ReadWriteOnce), is created by the module and is always removed before it returns.
  - All data travels as one tar stream over one exec WebSocket, whose frames are read directly and written to disk as
    they arrive, so memory stays bounded whatever the volume size.
  - I(state=from_pod) keeps I(local_path) an incremental mirror. The remote tree is listed first (one command), only
    files whose size or modification time differ are transferred, entries that disappeared are removed locally, and
    unchanged files are not rewritten, so tools such as C(bup index) see only real changes. Transferred files land in
    a staging directory beside I(local_path) and are moved into place only after the SHA-256 of every one of them,
    computed in the pod, matches what arrived. A failed copy leaves I(local_path) as it was.
  - I(state=to_pod) compares the local tree with the remote one and does nothing when they match. Otherwise it
    streams the whole local tree with a checksum manifest; the pod extracts it into a directory inside the target,
    verifies every file, and only then swaps the new content in. A failed restore leaves the old data in place.
  - Both sides refuse absolute names, C(..), symlinks pointing outside the tree, hard links, device files and FIFOs,
    and members written through a symlink. Special files found in the source (sockets, FIFOs, devices) are not copied
    and are listed in RV(ignored).
  - The commands run in the container need GNU C(find), C(tar), C(sort), C(head), C(xargs) and C(sha256sum), as the
    helper image has. Copy through I(pvc) when an application image lacks them.
  - The helper pod runs as the user, group, fsGroup and supplemental groups of the pods that mount the claim (else of
    the pod template of a StatefulSet, Deployment or DaemonSet that would), a container's securityContext overriding
    its pod's; with no uid declared, the first uid of the namespace's C(openshift.io/sa.scc.uid-range) annotation.
    A non-root helper passes PodSecurity C(restricted) (C(runAsNonRoot), no privilege escalation, all capabilities
    dropped, C(seccompProfile=RuntimeDefault)). A root or unknown user keeps a root helper, except in a namespace
    labelled C(pod-security.kubernetes.io/enforce=restricted), where the copy fails explaining why.
  - Before copying from the pod, files and directories the user running there cannot read fail the copy, named with
    owner and mode (none is skipped silently); C(lost+found) at the top of the tree is never listed, copied or
    replaced; a non-root helper restores without changing owners (C(tar --no-same-owner)).
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: Namespace of the pod or claim.
    type: str
    required: true
  state:
    description: Direction of the copy.
    type: str
    choices: [from_pod, to_pod]
    default: from_pod
  pod:
    description: Pod to copy from or to. Mutually exclusive with I(pvc).
    type: str
  container:
    description:
      - Container of I(pod); defaults to the pod's default container.
      - With I(pvc) and I(through=user), the container of the claim's user to read through; by default the first
        container that mounts the claim.
    type: str
  pvc:
    description: PersistentVolumeClaim to copy from or to, through a helper pod (or see I(through)). Mutually exclusive
      with I(pod).
    type: str
  through:
    description:
      - How a copy from I(pvc) reaches the claim. C(helper) starts a helper pod that mounts it (docs/helper-pods.md).
        C(user) reads through a running pod that already mounts the whole claim (the first by name; a mount with
        C(subPath) is passed over), in I(container) or the first container that mounts it, at its mount path. No pod
        is created, so no image is pulled and nothing must pass admission, but that container needs the tools listed
        above and reads as the application's own user.
      - C(user) only reads (I(state=from_pod)); a restore writes through a helper pod with the claim's users stopped.
    type: str
    choices: [helper, user]
    default: helper
  remote_path:
    description:
      - Directory to copy. With I(pod), an absolute path in the container. With I(pvc), a path inside the claim;
        the claim's root by default.
    type: str
    default: /
  local_path:
    description:
      - Local directory. With I(state=from_pod) it is created if missing (mode C(0700)) and mirrors I(remote_path);
        with I(state=to_pod) it must exist.
    type: path
    required: true
  exclude:
    description:
      - Patterns of paths to leave out. A pattern without C(/) matches a name at any depth
        (C(lost+found), C(*.sock)); one with C(/) matches the whole relative path (C(tmp/*)). Excluded local entries
        are never removed.
      - With I(state=to_pod) the patterns only leave local entries out of what is sent; the pod's tree is replaced
        whole, so its excluded entries do not survive a restore that changes anything.
    type: list
    elements: str
    default: []
  preserve_owner:
    description:
      - With I(state=from_pod), set local files' owner to the numeric uid/gid they have in the pod. Only possible, and
        only done, when the module runs as root.
      - With I(state=to_pod), extract with the local files' numeric owners (C(tar --same-owner)); when false the files
        belong to the user the pod's command runs as.
    type: bool
    default: true
  helper_image:
    description:
      - Image of the helper pod used with I(pvc), pulled with C(imagePullPolicy=IfNotPresent). It needs C(sh),
        C(sleep) and the tools listed above; Debian's C(bookworm-slim) has them all. Point it at a mirror on an
        air-gapped cluster.
    type: str
    default: docker.io/library/debian:bookworm-slim
  helper_start_timeout:
    description: Seconds to wait for the helper pod to run.
    type: int
    default: 120
  timeout:
    description: Seconds allowed for each command of the copy (listing, transfer, checksums).
    type: int
    default: 3600
attributes:
  check_mode:
    description: Lists and compares without transferring or writing anything.
    support: partial
    details:
      - With I(pod), the remote tree is listed (a read-only command) and the result says what would change; nothing
        is transferred or written.
      - With I(pvc), no helper pod is started in check mode; the task reports C(skipped=true).
  diff_mode:
    description: No per-file diff is produced; RV(plan) counts what changes.
    support: none
  idempotent:
    description: A second run with unchanged data transfers nothing and reports C(changed=false).
    support: full
notes:
  - Files are compared by size and modification time in whole seconds, like rsync's quick check.
  - Locally, set-id and sticky bits are not recreated and directories keep owner C(rwx) so the mirror can be updated.
  - Symbolic links are mirrored as links; a link whose target is absolute or leaves the tree fails the copy.
  - Requires C(get) and C(list) on pods, C(create) on C(pods/exec), and with I(pvc) C(get) on persistentvolumeclaims
    and C(create)/C(delete) on pods; C(get) on the namespace and C(list) on statefulsets, deployments and
    daemonsets are used when granted (to read the namespace's labels and annotations and the workloads' templates).
  - With C(from_pod), when GNU tar is installed on the machine running the module, it creates the received files
    (after this module checked and re-encoded every member); without it a Python writer does, about three times
    slower on trees of many small files.
seealso:
  - module: kubernetes.core.k8s_cp
requirements:
  - kubernetes >= 24.2.0
  - websocket-client
"""

EXAMPLES = r"""
- name: Mirror the MariaDB data directory through a helper pod (the database pod is scaled down or locked)
  statesafe.backup.k8s_pv_copy:
    namespace: sf
    pvc: mysql-persistent-storage-mariadb-0
    local_path: /var/backups/staging/volumes/mariadb
    exclude: [lost+found, "*.sock"]
  register: copied

- name: Copy a directory straight out of a running container
  statesafe.backup.k8s_pv_copy:
    namespace: sf
    pod: zuul-scheduler-0
    container: zuul-scheduler
    remote_path: /var/lib/zuul/keys
    local_path: /var/backups/staging/volumes/zuul-keys

- name: Copy a claim through the container of the Deployment's pod that mounts it (no helper pod)
  statesafe.backup.k8s_pv_copy:
    namespace: web
    pvc: web-data
    through: user
    container: main
    local_path: /var/backups/staging/volumes/web-data

- name: Restore a claim from the local copy (the workload is scaled to zero)
  statesafe.backup.k8s_pv_copy:
    namespace: sf
    state: to_pod
    pvc: zookeeper-data-zookeeper-0
    local_path: /var/backups/restore/volumes/zookeeper
"""

RETURN = r"""
files_transferred:
  description: Regular files sent over the stream.
  returned: success
  type: int
  sample: 12
bytes_transferred:
  description: Bytes of file content sent over the stream.
  returned: success
  type: int
  sample: 1048576
files_skipped:
  description: Regular files already identical on the destination, left untouched.
  returned: success
  type: int
  sample: 49988
files_removed:
  description: Destination entries removed (a removed directory counts once).
  returned: success
  type: int
  sample: 1
dirs_created:
  description: Directories created on the destination.
  returned: success
  type: int
links_updated:
  description: Symbolic links created or changed on the destination.
  returned: success
  type: int
modes_updated:
  description: Entries whose mode or owner alone was corrected, without a transfer.
  returned: success
  type: int
ignored:
  description: Special files in the source (sockets, FIFOs, devices) that were not copied; at most 100 listed.
  returned: success
  type: list
  elements: str
ignored_count:
  description: Number of special files not copied.
  returned: success
  type: int
duration:
  description: Seconds the whole copy took.
  returned: success
  type: float
  sample: 3.52
throughput:
  description: Bytes of file content transferred per second of I(duration).
  returned: success
  type: int
  sample: 310000000
stream_retries:
  description:
    - How many times the transfer from the pod was repeated because the API server ended the stream
      before all of the pod's output arrived although C(tar) in the pod reported success
      (kubernetes/kubernetes#124571). At most 2; a copy cut a third time fails, naming the cut.
  returned: success
  type: int
  sample: 0
changed_retries:
  description:
    - How many times the copy from the pod was planned and fetched again because files changed while they were
      read (GNU tar's C(file changed as we read it), a file removed meanwhile, or a sha256 that no longer
      matched), as a live application's log does. Nothing is applied from such a pass. At most 2; a file still
      changing on the third pass fails the copy, naming it.
  returned: success
  type: int
  sample: 0
plan:
  description: Counts of what the comparison found, before anything was done.
  returned: success
  type: dict
  sample:
    transfer: 12
    transfer_bytes: 1048576
    mkdirs: 0
    links: 0
    chmods: 0
    chowns: 0
    remove: 1
    ignored: 0
    unchanged: 49988
read_through:
  description: The pod, container and path the copy read the claim through, with I(through=user).
  returned: when I(pvc) is used with I(through=user)
  type: dict
  sample: {pod: web-5d8f7c9b4-x2k7p, container: main, path: /data}
helper_pod:
  description: Name of the helper pod used with I(pvc) (already removed).
  returned: when I(pvc) is used through a helper outside check mode
  type: str
  sample: statesafe-copy-data-mariadb-0-a1b2c3
helper_node:
  description: Node the helper pod ran on; null when the claim had no user and the scheduler chose.
  returned: when I(pvc) is used through a helper outside check mode
  type: str
helper_identity:
  description:
    - Who the helper pod ran as, and where that was read (C(source), e.g. C(pod app-0, container db));
      C(uid_origin) says C(declared) or the namespace annotation it came from. A null C(uid) is the image's user.
  returned: when I(pvc) is used through a helper outside check mode
  type: dict
  sample:
    uid: 1000
    gid: 1000
    fs_group: 2000
    supplemental_groups: []
    source: pod app-0, container main
    uid_origin: declared
error_location:
  description: On failure, the namespace, pod, container and path the error is about.
  returned: failure
  type: dict
"""

from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import (
    AnsibleK8SModule,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.connection import (
    module_argument_spec,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.helper_pod import (
    DEFAULT_IMAGE,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.module import (
    run_k8s_module,
)
from ansible_collections.statesafe.backup.plugins.module_utils.volume.copy import (
    run,
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    state=dict(type="str", choices=["from_pod", "to_pod"], default="from_pod"),
    pod=dict(type="str"),
    container=dict(type="str"),
    pvc=dict(type="str"),
    through=dict(type="str", choices=["helper", "user"], default="helper"),
    remote_path=dict(type="str", default="/"),
    local_path=dict(type="path", required=True),
    exclude=dict(type="list", elements="str", default=[]),
    preserve_owner=dict(type="bool", default=True),
    helper_image=dict(type="str", default=DEFAULT_IMAGE),
    helper_start_timeout=dict(type="int", default=120),
    timeout=dict(type="int", default=3600),
)


def main():
    module = AnsibleK8SModule(
        argument_spec=module_argument_spec(ARGUMENT_SPEC),
        mutually_exclusive=[("pod", "pvc")],
        required_one_of=[("pod", "pvc")],
        supports_check_mode=True,
    )
    params = module.params
    result = run_k8s_module(module, lambda client, api: run(client, api, params, module.check_mode),
                            local_path=params["local_path"],
                            location={"namespace": params["namespace"], "pod": params["pod"],
                                      "container": params["container"],
                                      "kind": "PersistentVolumeClaim" if params["pvc"] else None,
                                      "name": params["pvc"]})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
