#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bup_repo
short_description: Create a bup repository if it does not exist
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Makes sure a bup repository exists at O(repository) (with C(bup init)) or at O(remote) (with C(bup init -r)).
  - An existing repository is left as it is. A non-empty directory that is not a bup repository is refused, never
    initialised over.
extends_documentation_fragment:
  - statesafe.backup.bup_repository
options:
  state:
    description: V(present) is the only state; removing a repository is left to a person.
    type: str
    choices: [present]
    default: present
attributes:
  check_mode:
    description: Reports whether the repository would be created, without creating it.
    support: full
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: A second run finds the repository and changes nothing.
    support: full
seealso:
  - module: statesafe.backup.bup_save
  - module: statesafe.backup.bup_archive_info
"""

EXAMPLES = r"""
- name: Create the backup repository
  statesafe.backup.bup_repo:
    repository: /srv/backup/bup

- name: Create a repository on a backup host, over ssh
  statesafe.backup.bup_repo:
    remote: backup.example.org:/srv/backup/bup
"""

RETURN = r"""
repository:
  description: The repository path or remote specification.
  returned: always
  type: str
  sample: /srv/backup/bup
created:
  description: Whether the repository was (or in check mode, would be) created.
  returned: always
  type: bool
error_location:
  description: On failure, the repository the error is about.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.bup.operations import (
    run_init,
)
from ansible_collections.statesafe.backup.plugins.module_utils.bup.repository import (
    repository_from_params,
)
from ansible_collections.statesafe.backup.plugins.module_utils.bup.args import (
    module_kwargs,
)
from ansible_collections.statesafe.backup.plugins.module_utils.boundary import (
    repository_error,
    run_module,
)

ARGUMENT_SPEC = dict(
    state=dict(type="str", choices=["present"], default="present"),
)


def main():
    module = AnsibleModule(**module_kwargs(ARGUMENT_SPEC, supports_check_mode=True))
    result = run_module(module, lambda: run_init(repository_from_params(module.params), module.params, module.check_mode),
                        describe=repository_error(module.params))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
