#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: tree_checksums
short_description: The regular files of a local tree with their size and sha256
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Walks a local directory tree without following links and returns each regular file, hidden ones included,
    with its size and sha256, in the shape of M(ansible.builtin.find)'s C(files) with C(get_checksum=true) and
    C(checksum_algorithm=sha256). That option of M(ansible.builtin.find) needs ansible-core 2.19; this module
    runs on every ansible-core the collection accepts.
  - The backup role uses it to list the artifacts of MANIFEST.json (through the
    P(statesafe.backup.manifest_artifacts#filter) filter).
  - Links, directories and special files are not listed as files; the links and special files are counted in
    RV(not_regular_count) and named in RV(not_regular).
  - Files are read in chunks of 1 MiB, so memory does not grow with their size.
  - A file or directory that cannot be read fails the task, naming every one and why, rather than being left out.
  - Reads only.
options:
  root:
    description: The tree to walk (absolute path to a directory, not a link).
    type: path
    required: true
  exclude_paths:
    description:
      - Paths relative to O(root) left out; an excluded directory leaves out everything below it.
      - The default leaves out the manifest the backup role writes at the top of the staging tree.
    type: list
    elements: str
    default: [MANIFEST.json]
attributes:
  check_mode:
    description: Reads only; runs the same in check mode.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Reads only.
    support: full
seealso:
  - module: ansible.builtin.find
  - module: statesafe.backup.archive_verify
"""

EXAMPLES = r"""
- name: Every artifact of the staging tree with its sha256
  statesafe.backup.tree_checksums:
    root: /var/tmp/statesafe/staging/sf
  register: found

- name: The manifest's artifacts, relative to the tree
  ansible.builtin.set_fact:
    artifacts: "{{ found.files | statesafe.backup.manifest_artifacts('/var/tmp/statesafe/staging/sf') }}"
"""

RETURN = r"""
root:
  description: The tree walked.
  returned: success
  type: str
files:
  description: Each regular file, sorted by its path relative to O(root).
  returned: success
  type: list
  elements: dict
  contains:
    path:
      description: O(root) joined with the file's path relative to it.
      type: str
      sample: /var/tmp/statesafe/staging/sf/dumps/mariadb.sql
    size:
      description: Bytes read.
      type: int
    checksum:
      description: sha256 of the content, in lower-case hex.
      type: str
file_count:
  description: Regular files listed.
  returned: success
  type: int
bytes:
  description: Bytes read and hashed.
  returned: success
  type: int
not_regular_count:
  description: Links and special files (fifos, sockets, devices) found and not listed.
  returned: success
  type: int
not_regular:
  description: The first 50 of them, sorted by path, each with C(path) (relative to O(root)) and C(type)
    (C(link), C(fifo), C(socket), C(device) or C(other)).
  returned: success
  type: list
  elements: dict
error_location:
  description: On failure, the tree.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import (
    local_file_error,
    run_module,
)
from ansible_collections.statesafe.backup.plugins.module_utils.capture.tree_checksums import (
    MANIFEST,
    tree_checksums,
)

ARGUMENT_SPEC = dict(
    root=dict(type="path", required=True),
    exclude_paths=dict(type="list", elements="str", default=[MANIFEST]),
)


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    root = module.params["root"]
    result = run_module(module, lambda: tree_checksums(root, module.params["exclude_paths"]),
                        describe=local_file_error(root))
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
