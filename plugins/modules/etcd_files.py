#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: etcd_files
short_description: Copy a control plane's files into a backup tree, or put them back
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - C(action=collect) makes O(dest) a fresh copy of O(paths) (files or directories, each at C(<dest>/<path>)) with
    C(cp -a), so owners, modes and times are kept, and returns each copied file's size and sha256 and one digest
    of them all (what M(statesafe.backup.etcd_backup_decision) compares). A missing path fails the task naming it.
  - C(action=put_back) copies each of O(paths) from C(<dest>/<path>) back over C(<path>) with C(cp -a).
  - The content of the files (private keys among them) is never read into a result or a message; only paths,
    sizes and sha256 sums are returned.
options:
  action:
    description: What to do.
    type: str
    choices: [collect, put_back]
    required: true
  paths:
    description: Absolute paths other than C(/).
    type: list
    elements: path
    required: true
  dest:
    description: The tree the paths are copied into (C(collect), replaced) or from (C(put_back)).
    type: path
    required: true
  timeout:
    description: Seconds each copy may take.
    type: int
    default: 300
attributes:
  check_mode:
    description: Nothing is copied in check mode.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: C(collect) replaces O(dest) each time; C(put_back) copies each time.
    support: none
seealso:
  - module: statesafe.backup.etcd_backup_decision
"""

EXAMPLES = r"""
- name: The control plane's files, fresh
  statesafe.backup.etcd_files:
    action: collect
    paths: [/etc/kubernetes/manifests, /etc/kubernetes/pki]
    dest: /var/tmp/statesafe/etcd/files
  become: true
"""

RETURN = r"""
files:
  description: Each copied regular file with C(path) (relative to O(dest)), C(size) and C(sha256), sorted.
  returned: action is collect, not in check mode
  type: list
  elements: dict
digest:
  description: sha256 over the sorted (path, sha256) of RV(files).
  returned: action is collect, not in check mode
  type: str
bytes:
  description: Bytes copied.
  returned: action is collect, not in check mode
  type: int
put_back:
  description: The paths put back.
  returned: action is put_back, not in check mode
  type: list
  elements: str
error_location:
  description: On failure, the path at fault.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import local_file_error, run_module
from ansible_collections.statesafe.backup.plugins.module_utils.etcd import ops

ARGUMENT_SPEC = dict(
    action=dict(type="str", required=True, choices=["collect", "put_back"]),
    paths=dict(type="list", elements="path", required=True),
    dest=dict(type="path", required=True),
    timeout=dict(type="int", default=300),
)


def work(params):
    if params["action"] == "collect":
        return dict(changed=True, **ops.collect_files(params["paths"], params["dest"], params["timeout"]))
    return dict(changed=True, put_back=ops.put_back(params["paths"], params["dest"], params["timeout"]))


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    if module.check_mode:
        module.exit_json(changed=True)
    module.exit_json(**run_module(module, lambda: work(module.params), describe=local_file_error(module.params["dest"])))


if __name__ == "__main__":
    main()
