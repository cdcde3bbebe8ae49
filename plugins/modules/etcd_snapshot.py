#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: etcd_snapshot
short_description: Take, check and restore an etcd v3 snapshot on a control-plane host
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - C(action=revision) reads etcd's current revision (C(etcdctl endpoint status), the highest of the endpoints).
  - C(action=save) takes a snapshot with C(etcdctl snapshot save) into a file beside O(path), checks it and only
    then renames it to O(path). A snapshot counts only when both checks pass - its integrity trailer (the sha256 of
    the database that etcd appends to the stream) and C(etcdutl snapshot status) (hash, revision, key count).
  - C(action=verify) runs the same checks on an existing file.
  - C(action=restore) checks O(path), restores it with C(etcdutl snapshot restore) into a new directory beside
    O(data_dir), then renames O(data_dir) aside (kept, never deleted) and the new directory into its place. Until
    that swap nothing is renamed; a failed restore removes its new directory and leaves O(data_dir) as it was.
    Stop etcd first (the etcd role does).
  - etcdctl gets the paths of the cluster's client certificates (O(cacert), O(cert), O(key)); their content is
    never read or returned.
options:
  action:
    description: What to do.
    type: str
    choices: [revision, save, verify, restore]
    required: true
  path:
    description: The snapshot file (written by C(save), read by C(verify) and C(restore)).
    type: path
  endpoints:
    description: etcd client URLs (C(revision), C(save)).
    type: list
    elements: str
    default: ["https://127.0.0.1:2379"]
  cacert:
    description: CA bundle that signed etcd's serving certificate.
    type: path
  cert:
    description: Client certificate etcd trusts.
    type: path
  key:
    description: The client certificate's key (a path; the module never reads it).
    type: path
  etcdctl:
    description: The etcdctl command.
    type: str
    default: etcdctl
  etcdutl:
    description: The etcdutl command.
    type: str
    default: etcdutl
  timeout:
    description: Seconds each etcdctl or etcdutl process may take.
    type: int
    default: 300
  data_dir:
    description: etcd's data directory (C(restore)).
    type: path
  name:
    description: The member's name, as etcd is started with (C(--name)).
    type: str
    default: default
  initial_cluster:
    description: C(--initial-cluster) of the restored member, as etcd is started with.
    type: str
    default: default=http://localhost:2380
  initial_advertise_peer_urls:
    description: C(--initial-advertise-peer-urls) of the restored member.
    type: str
    default: http://localhost:2380
  initial_cluster_token:
    description: C(--initial-cluster-token) of the restored cluster.
    type: str
    default: etcd-cluster
  bump_revision:
    description:
      - Added to the restored revision (with C(--mark-compacted)), so that clients which watched the old cluster
        see revisions move on, as the Kubernetes documentation recommends. 0 to restore the revision as it was.
    type: int
    default: 1000000000
attributes:
  check_mode:
    description: C(revision) and C(verify) read only and run in check mode; C(save) and C(restore) do nothing then.
    support: partial
    details: C(save) and C(restore) return C(changed=true) and nothing else in check mode, without running etcdctl or
      etcdutl.
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: C(save) takes a new snapshot and C(restore) swaps the data directory every time.
    support: none
notes:
  - etcdutl and etcdctl of the server's version; the local cluster builds them from the Go module proxy
    (tests/cluster/k8s/build-etcd-tools.sh).
seealso:
  - module: statesafe.backup.etcd_backup_decision
"""

EXAMPLES = r"""
- name: Snapshot with kubeadm's certificates
  statesafe.backup.etcd_snapshot:
    action: save
    path: /var/tmp/statesafe/etcd/snapshot.db
    cacert: /etc/kubernetes/pki/etcd/ca.crt
    cert: /etc/kubernetes/pki/etcd/healthcheck-client.crt
    key: /etc/kubernetes/pki/etcd/healthcheck-client.key
  become: true

- name: Restore it into a new data directory, keeping the old one
  statesafe.backup.etcd_snapshot:
    action: restore
    path: /var/tmp/statesafe/etcd-restore/snapshot.db
    data_dir: /var/lib/etcd
    name: cp1
    initial_cluster: cp1=https://10.0.0.11:2380
    initial_advertise_peer_urls: https://10.0.0.11:2380
"""

RETURN = r"""
revision:
  description: etcd's current revision (C(revision)) or the snapshot's (C(save), C(verify), C(restore)).
  returned: success, not in check mode for save and restore
  type: int
endpoints:
  description: Each endpoint's C(endpoint), C(revision), C(version), C(db_size), C(leader) (C(revision)).
  returned: action is revision
  type: list
  elements: dict
status:
  description: The checked snapshot - C(hash), C(revision), C(total_keys), C(total_size), C(version) (etcdutl's),
    C(size) and C(sha256) of the file.
  returned: action is save, verify or restore, not in check mode for save and restore
  type: dict
data_dir:
  description: The data directory now holding the restored snapshot.
  returned: action is restore, not in check mode
  type: str
previous_data_dir:
  description: Where the replaced data directory was kept; null when there was none.
  returned: action is restore, not in check mode
  type: str
error_location:
  description: On failure, the file at fault.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import run_module
from ansible_collections.statesafe.backup.plugins.module_utils.etcd import ops

ARGUMENT_SPEC = dict(
    action=dict(type="str", required=True, choices=["revision", "save", "verify", "restore"]),
    path=dict(type="path"),
    endpoints=dict(type="list", elements="str", default=["https://127.0.0.1:2379"]),
    cacert=dict(type="path"),
    cert=dict(type="path"),
    key=dict(type="path", no_log=False),
    etcdctl=dict(type="str", default="etcdctl"),
    etcdutl=dict(type="str", default="etcdutl"),
    timeout=dict(type="int", default=300),
    data_dir=dict(type="path"),
    name=dict(type="str", default="default"),
    initial_cluster=dict(type="str", default="default=http://localhost:2380"),
    initial_advertise_peer_urls=dict(type="str", default="http://localhost:2380"),
    # The cluster's identifier at bootstrap, not a credential.
    initial_cluster_token=dict(type="str", default="etcd-cluster", no_log=False),
    bump_revision=dict(type="int", default=1000000000),
)
REQUIRED_IF = [("action", "save", ["path"]), ("action", "verify", ["path"]), ("action", "restore", ["path", "data_dir"])]


def work(module):
    params, action = module.params, module.params["action"]
    if action == "revision":
        return dict(changed=False, **ops.current_revision(params))
    if action == "verify":
        status = ops.verify(params["path"], params["etcdutl"], params["timeout"])
        return dict(changed=False, status=status, revision=status["revision"])
    if module.check_mode:
        return dict(changed=True)
    if action == "save":
        status = ops.save(params)
        return dict(changed=True, status=status, revision=status["revision"])
    result = ops.restore(params)
    return dict(changed=True, revision=result["status"]["revision"], **result)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, required_if=REQUIRED_IF, supports_check_mode=True)
    module.exit_json(**run_module(module, lambda: work(module)))


if __name__ == "__main__":
    main()
