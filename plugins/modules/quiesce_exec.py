#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: quiesce_exec
short_description: Run a hook command in pod containers, with a timeout that really ends it
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Runs one command in a container of a pod named by I(pod), or of every pod matching I(label_selector) (in name
    order; pods being deleted are skipped). Meant for backup hooks such as flushing and locking a database before a
    copy and unlocking it after.
  - Every pod and container is checked (exists, running) before the command runs anywhere.
  - The task fails when a command exits non-zero, unless I(fail_on_rc=false); a hook that guards data should not
    fail silently. The command runs in every selected pod even when it failed in an earlier one, so an unlock hook
    reaches all pods.
  - With I(timeout), the command runs under C(timeout -k KILL_AFTER TIMEOUT) inside the container, so it is ended
    there when the time is up (closing the API stream alone would leave it running). The container then needs a
    C(timeout) command (coreutils or busybox); without one the task fails saying so.
  - Output is read from the exec WebSocket directly and is binary-safe.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
options:
  namespace:
    description: Namespace of the pods.
    type: str
    required: true
  pod:
    description: Name of the pod. Mutually exclusive with I(label_selector).
    type: str
  label_selector:
    description: Label selector; the command runs in every matching pod that is not being deleted, in name order.
    type: str
  container:
    description:
      - Container to run in. Defaults to the pod's C(kubectl.kubernetes.io/default-container) annotation, then to its
        first container.
    type: str
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
      - Seconds after which the command is sent TERM inside the container (and KILL I(kill_after) seconds later).
        The result then has C(timed_out=true) and rc C(124). No limit when unset.
    type: int
  kill_after:
    description: Seconds between TERM and KILL when I(timeout) passes.
    type: int
    default: 10
  fail_on_rc:
    description: Fail the task when the command exits non-zero (or times out) in any pod.
    type: bool
    default: true
  output_encoding:
    description:
      - C(text) decodes output as UTF-8; bytes that are not valid UTF-8 appear as C(\\xNN) escapes (ansible-core
        refuses undecodable text in results).
      - C(base64) returns the exact bytes, base64-encoded; use it for binary output.
    type: str
    choices: [text, base64]
    default: text
  output_limit:
    description: Bytes of stdout and of stderr kept per pod; more is dropped and flagged as truncated.
    type: int
    default: 1048576
attributes:
  check_mode:
    description: The command is not run in check mode; Ansible reports the task as skipped.
    support: none
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Whether running the command twice is harmless depends on the command.
    support: none
notes:
  - Requires the C(get) verb on pods and C(create) on C(pods/exec) in I(namespace).
  - Reports C(changed=true) whenever a command ran; use C(changed_when) to refine.
seealso:
  - module: kubernetes.core.k8s_exec
requirements:
  - kubernetes >= 24.2.0
  - websocket-client
"""

EXAMPLES = r"""
- name: Flush and lock MariaDB tables before copying its volume
  statesafe.backup.quiesce_exec:
    namespace: sf
    pod: mariadb-0
    container: mariadb
    argv: [mariadb, -uroot, -e, "FLUSH TABLES WITH READ LOCK; DO SLEEP(600)"]
    env:
      MYSQL_PWD: "{{ mariadb_root_password }}"
    timeout: 30

- name: Tell every Zookeeper server to take a snapshot, whatever the outcome in each
  statesafe.backup.quiesce_exec:
    namespace: sf
    label_selector: app=zookeeper
    command: echo srvr | nc localhost 2181
    fail_on_rc: false
  register: zk

- name: Fetch a binary file exactly
  statesafe.backup.quiesce_exec:
    namespace: sf
    pod: zuul-scheduler-0
    argv: [cat, /var/lib/zuul/keys/project.pem]
    output_encoding: base64
  register: key
  no_log: true
"""

RETURN = r"""
results:
  description: One entry per pod, in the order the command ran.
  returned: always
  type: list
  elements: dict
  contains:
    namespace:
      description: Namespace of the pod.
      type: str
      sample: sf
    pod:
      description: Name of the pod.
      type: str
      sample: mariadb-0
    container:
      description: Container the command ran in.
      type: str
      sample: mariadb
    rc:
      description: Exit code of the command (124 when I(timeout) ended it).
      type: int
      sample: 0
    timed_out:
      description: Whether I(timeout) ended the command.
      type: bool
    stdout:
      description: Standard output, decoded as I(output_encoding) says.
      type: str
    stderr:
      description: Standard error, decoded as I(output_encoding) says.
      type: str
    stdout_truncated:
      description: Whether stdout was longer than I(output_limit).
      type: bool
    stderr_truncated:
      description: Whether stderr was longer than I(output_limit).
      type: bool
    duration:
      description: Seconds the command took, as seen from the controller.
      type: float
      sample: 0.412
skipped_pods:
  description: Pods matching I(label_selector) that were being deleted and were left out.
  returned: always
  type: list
  elements: str
error_location:
  description: On failure, the namespace, pod and container the error is about.
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
from ansible_collections.statesafe.backup.plugins.module_utils.capture.quiesce import (
    run_hook,
)

ARGUMENT_SPEC = dict(
    namespace=dict(type="str", required=True),
    pod=dict(type="str"),
    label_selector=dict(type="str"),
    container=dict(type="str"),
    argv=dict(type="list", elements="str"),
    command=dict(type="str"),
    shell=dict(type="str", default="/bin/sh"),
    env=dict(type="dict", no_log=True),
    timeout=dict(type="int"),
    kill_after=dict(type="int", default=10),
    fail_on_rc=dict(type="bool", default=True),
    output_encoding=dict(type="str", choices=["text", "base64"], default="text"),
    output_limit=dict(type="int", default=1048576),
)


def main():
    module = AnsibleK8SModule(
        argument_spec=module_argument_spec(ARGUMENT_SPEC),
        mutually_exclusive=[("pod", "label_selector"), ("argv", "command")],
        required_one_of=[("pod", "label_selector"), ("argv", "command")],
        supports_check_mode=False,
    )
    results, skipped, failures = run_k8s_module(module, lambda client, api: run_hook(client, api, module.params))
    if failures and module.params["fail_on_rc"]:
        module.fail_json(msg="hook failed in {0}".format("; ".join(failures)), results=results,
                         skipped_pods=skipped, changed=True)
    module.exit_json(changed=True, results=results, skipped_pods=skipped)


if __name__ == "__main__":
    main()
