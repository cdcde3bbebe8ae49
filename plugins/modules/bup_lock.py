#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: bup_lock
short_description: Take or release a run lease on a bup repository, so no other run overlaps a whole backup
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
description:
  - Every writing operation of the collection holds the repository's lock (an C(flock) on C(statesafe.lock)) for
    its own duration. A backup run is many tasks, though; a lease taken with O(state=acquired) reserves the
    repository until it is released or O(ttl) passes. Other runs' operations wait for it (up to O(lock_timeout))
    and then fail naming the lease's owner, host and start; operations that pass the returned RV(token) as
    O(lock_token) proceed.
  - A lease outlives the process that took it, which is why it expires; a crashed run blocks others for at most
    O(ttl). O(state=released) with O(force=true) removes somebody else's lease.
  - With O(remote), the lease is kept in O(remote_cache_dir) on this host, so it only keeps out runs from this host.
extends_documentation_fragment:
  - statesafe.backup.bup_repository
options:
  state:
    description: V(acquired) takes (or with its own O(lock_token), renews) the lease; V(released) gives it back.
    type: str
    choices: [acquired, released]
    default: acquired
  owner:
    description: Who holds the lease, shown to runs that have to wait (for example the playbook and AWX job id).
    type: str
    default: ansible
  ttl:
    description: Seconds the lease lasts unless released or renewed.
    type: int
    default: 21600
  force:
    description: With O(state=released), remove the lease even when O(lock_token) is not its token.
    type: bool
    default: false
attributes:
  check_mode:
    description: A lease cannot be taken in pretence; the task is skipped in check mode.
    support: none
  diff_mode:
    description: Nothing to show a difference of.
    support: none
  idempotent:
    description: Acquiring with the lease's own token renews it; releasing a released lease changes nothing.
    support: full
seealso:
  - module: statesafe.backup.bup_save
"""

EXAMPLES = r"""
- name: Reserve the repository for this backup run
  statesafe.backup.bup_lock:
    repository: /srv/backup/bup
    owner: "backup.yml on {{ inventory_hostname }}"
    lock_timeout: 600
  register: run_lock

- name: Give it back
  statesafe.backup.bup_lock:
    repository: /srv/backup/bup
    state: released
    lock_token: "{{ run_lock.token }}"
"""

RETURN = r"""
repository:
  description: The repository path or remote specification.
  returned: always
  type: str
token:
  description: The lease's token, to pass as O(lock_token) to the run's other bup tasks.
  returned: always
  type: str
lease:
  description: The lease taken or released (token, owner, host, pid, since, since_epoch, expires_epoch), or null.
  returned: always
  type: dict
lock_waited:
  description: Seconds spent waiting.
  returned: always
  type: float
error_location:
  description: On failure, the repository the error is about.
  returned: failure
  type: dict
lock_holder:
  description: When the lock was not obtained in time, what the lock file says about its holder.
  returned: failure
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.statesafe.backup.plugins.module_utils.bup.operations import (
    run_lock,
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
    state=dict(type="str", choices=["acquired", "released"], default="acquired"),
    owner=dict(type="str", default="ansible"),
    ttl=dict(type="int", default=21600),
    force=dict(type="bool", default=False),
)


def main():
    module = AnsibleModule(**module_kwargs(ARGUMENT_SPEC, required_if=[("state", "released", ("lock_token", "force"),
                                                                        True)]))
    result = run_module(module, lambda: run_lock(repository_from_params(module.params), module.params),
                        describe=repository_error(module.params))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
