#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: pod_dump
short_description: Stream a logical dump out of a pod into a local file, or load one back, verified both ways
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - With I(state=from_pod), runs a dump command (for example C(mariadb-dump)) in a container and streams its standard
    output into the local file I(dest), with memory bounded whatever the size of the dump.
  - The command runs inside a small C(sh) wrapper that copies its output through C(tee) into C(sha256sum) and
    C(wc -c), so the pod itself reports the size and sha256 of exactly the bytes it sent, and the command's own exit
    code (a pipeline cannot mask it). The report follows the stream on stderr after a marker that is random per run.
  - The dump is written to a temporary file beside I(dest) and moved over I(dest) only when the command exited 0,
    the pod's size and sha256 equal what arrived and, with I(expect_trailer), the end of the dump matches it. A failed,
    cut or incomplete dump leaves I(dest) as it was (or absent).
  - I(dest) is replaced only when its bytes differ; an identical dump leaves the file untouched (same inode and
    mtime), so a deduplicating backup sees no change.
  - With I(state=to_pod), first checks the local file I(src) against I(sha256) (and I(size)), normally taken from
    the backup manifest, and refuses to run anything when they differ; then streams exactly that many bytes into the
    standard input of the command (for example C(mariadb)). The wrapper reports what the command was given, and the
    task fails unless it equals what was sent and the command exited 0.
  - The container needs C(sh), C(mktemp), C(mkfifo), C(tee), C(sha256sum), C(wc), C(tail) and C(cat) (coreutils or
    busybox), C(timeout) when I(timeout) is set, and a writable C(TMPDIR) (default C(/tmp)) for two FIFOs and the
    command's stderr.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: Namespace of the pod.
    type: str
    required: true
  pod:
    description: Name of the pod. One of O(pod) and O(workload) is required.
    type: str
  workload:
    description:
      - Instead of O(pod), the workload whose pod to run in - the first by name of its ready pods, picked by its
        selector (a Deployment's pods change names). RV(pod) names the pod chosen.
    type: str
  workload_kind:
    description: The kind of O(workload).
    type: str
    choices: [StatefulSet, Deployment, ReplicaSet]
    default: StatefulSet
  container:
    description:
      - Container to run in. Defaults to the pod's C(kubectl.kubernetes.io/default-container) annotation, then to its
        first container.
    type: str
  state:
    description:
      - C(from_pod) dumps the command's standard output into I(dest).
      - C(to_pod) loads I(src) into the command's standard input.
    type: str
    choices: [from_pod, to_pod]
    default: from_pod
  argv:
    description: The command as a list of arguments, run without a shell. Mutually exclusive with I(command).
    type: list
    elements: str
  command:
    description: A shell command line, run as C(SHELL -c COMMAND). Mutually exclusive with I(argv).
    type: str
  shell:
    description: Shell that runs I(command).
    type: str
    default: /bin/sh
  env:
    description:
      - Environment variables for the command, set with C(env) inside the container.
      - Values are treated as secrets (not logged), but like any argument they are visible in the container's process
        list while the command runs.
    type: dict
  timeout:
    description:
      - Seconds after which the command is sent TERM inside the container (and KILL I(kill_after) seconds later);
        the task then fails saying the command timed out.
    type: int
    default: 3600
  kill_after:
    description: Seconds between TERM and KILL when I(timeout) passes.
    type: int
    default: 10
  dest:
    description:
      - Local file the dump is written to (mode C(0600); missing parent directories are created with mode C(0700)).
      - Required with I(state=from_pod).
    type: path
  expect_trailer:
    description:
      - A regular expression that must match within the last I(trailer_bytes) bytes of the dump, for example
        C(-- Dump completed) for C(mariadb-dump); a dump without it ended early, even when the command said 0.
      - Only with I(state=from_pod).
    type: str
  trailer_bytes:
    description:
      - How many bytes at the end of the dump I(expect_trailer) is searched in.
      - The default leaves room for the zero padding GNU tar writes after its last member, up to a record
        (10 KiB unless C(-b) says otherwise).
    type: int
    default: 65536
  src:
    description:
      - Local file to load. Required with I(state=to_pod).
    type: path
  sha256:
    description:
      - Expected sha256 of I(src) (64 hexadecimal digits). Nothing runs in the pod unless I(src) has it.
      - Required with I(state=to_pod).
    type: str
  size:
    description: Expected size of I(src) in bytes, checked with I(sha256).
    type: int
  output_limit:
    description: Bytes of the end of the command's stderr (and, with I(state=to_pod), stdout) that are kept.
    type: int
    default: 65536
attributes:
  check_mode:
    description: The command is not run in check mode; Ansible reports the task as skipped.
    support: none
  diff_mode:
    description: Dumps are not shown as differences.
    support: none
  idempotent:
    description:
      - With I(state=from_pod), an unchanged dump does not rewrite I(dest) and reports C(changed=false); use
        C(--skip-dump-date) with C(mariadb-dump) so an unchanged database gives identical bytes.
      - With I(state=to_pod), the load runs every time.
    support: partial
notes:
  - Requires the C(get) verb on pods and C(create) on C(pods/exec) in I(namespace).
  - Loading relies on the exec stdin being passed through as sent; the wrapper passes on exactly the verified number
    of bytes, so no end-of-input signal is needed.
seealso:
  - module: statesafe.backup.quiesce_exec
  - module: statesafe.backup.k8s_pv_copy
requirements:
  - kubernetes >= 24.2.0
  - websocket-client
"""

EXAMPLES = r"""
- name: Dump the Software Factory databases, checked end to end
  statesafe.backup.pod_dump:
    namespace: sf
    pod: mariadb-0
    container: mariadb
    command: >-
      mariadb-dump -uroot --single-transaction --skip-dump-date
      --databases zuul sfmanager
    env:
      MYSQL_PWD: "{{ mariadb_root_password }}"
    dest: /var/backups/staging/dumps/mariadb.sql
    expect_trailer: "-- Dump completed"
  register: mariadb_dump

- name: Load it back, only if it is the dump the manifest describes
  statesafe.backup.pod_dump:
    state: to_pod
    namespace: sf
    pod: mariadb-0
    container: mariadb
    argv: [mariadb, -uroot]
    env:
      MYSQL_PWD: "{{ mariadb_root_password }}"
    src: /var/restore/staging/dumps/mariadb.sql
    sha256: "{{ manifest.artifacts['dumps/mariadb.sql'].sha256 }}"
    size: "{{ manifest.artifacts['dumps/mariadb.sql'].size }}"
"""

RETURN = r"""
namespace:
  description: Namespace of the pod.
  returned: success
  type: str
  sample: sf
pod:
  description: Name of the pod.
  returned: success
  type: str
  sample: mariadb-0
container:
  description: Container the command ran in.
  returned: success
  type: str
  sample: mariadb
path:
  description:
    - I(dest) with I(state=from_pod), I(src) with I(state=to_pod).
    - As for Ansible's file modules, the result also carries the file's C(state), C(mode), C(owner), C(group),
      C(uid), C(gid) and C(size) (Ansible adds them for a C(path) result).
  returned: success
  type: str
  sample: /var/backups/staging/dumps/mariadb.sql
size:
  description: Bytes of the dump, as received and as the pod reported sending.
  returned: success and I(state=from_pod)
  type: int
  sample: 1811234
bytes_sent:
  description: Bytes of I(src) sent to the command, as the pod reported receiving.
  returned: success and I(state=to_pod)
  type: int
  sample: 1811234
sha256:
  description: sha256 of the dump (from_pod) or of I(src) (to_pod), equal to what the pod computed.
  returned: success
  type: str
  sample: 2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae
rc:
  description: Exit code of the command (always 0 on success).
  returned: success
  type: int
  sample: 0
stderr:
  description: The last I(output_limit) bytes of the command's stderr.
  returned: success
  type: str
stdout:
  description: The last I(output_limit) bytes of the command's stdout.
  returned: success and I(state=to_pod)
  type: str
duration:
  description: Seconds the transfer took, as seen from the controller.
  returned: success
  type: float
  sample: 1.82
throughput:
  description: Bytes transferred per second of I(duration).
  returned: success
  type: int
  sample: 995000
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
from ansible_collections.statesafe.backup.plugins.module_utils.capture.dump import (
    run,
)
from ansible_collections.statesafe.backup.plugins.module_utils.k8s.module import (
    run_k8s_module,
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    pod=dict(type="str"),
    workload=dict(type="str"),
    workload_kind=dict(type="str", choices=["StatefulSet", "Deployment", "ReplicaSet"], default="StatefulSet"),
    container=dict(type="str"),
    state=dict(type="str", choices=["from_pod", "to_pod"], default="from_pod"),
    argv=dict(type="list", elements="str"),
    command=dict(type="str"),
    shell=dict(type="str", default="/bin/sh"),
    env=dict(type="dict", no_log=True),
    timeout=dict(type="int", default=3600),
    kill_after=dict(type="int", default=10),
    dest=dict(type="path"),
    expect_trailer=dict(type="str"),
    trailer_bytes=dict(type="int", default=65536),
    src=dict(type="path"),
    sha256=dict(type="str"),
    size=dict(type="int"),
    output_limit=dict(type="int", default=65536),
)


def main():
    module = AnsibleK8SModule(
        argument_spec=module_argument_spec(ARGUMENT_SPEC),
        mutually_exclusive=[("argv", "command"), ("dest", "src"), ("pod", "workload")],
        required_one_of=[("argv", "command"), ("pod", "workload")],
        required_if=[("state", "from_pod", ["dest"]), ("state", "to_pod", ["src", "sha256"])],
        supports_check_mode=False,
    )
    params = module.params
    result = run_k8s_module(module, lambda client, api: run(client, api, params),
                            local_path=params["dest"] or params["src"],
                            location={"namespace": params["namespace"], "pod": params["pod"],
                                      "kind": None if params["pod"] else params["workload_kind"],
                                      "name": params["workload"], "container": params["container"]})
    module.exit_json(**result)


if __name__ == "__main__":
    main()
