# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: run_lease
short_description: Identify this ansible-playbook run, or find a repository lease left by a dead run
description:
  - V(owner) returns a tag naming the running ansible-playbook process (pid, start time, host), to put in the owner
    of the run lease (statesafe.backup.bup_lock) so that a later run can tell whether the run holding it is alive.
  - V(stale) reads the lease of the local bup repository O(repository) and returns it, with a C(reason), when it was
    taken by a run on this host that no longer exists (killed, crashed); otherwise an empty dict. Leases of live
    runs, of other hosts, expired leases and leases without a run tag are never reported.
  - Runs on the controller; for V(stale) the repository must be on the controller (connection local).
version_added: 0.1.0
author:
  - statesafe maintainers (@statesafe)
options:
  _terms:
    description: V(owner) or V(stale).
    required: true
    type: list
    elements: str
  repository:
    description: The local bup repository whose lease V(stale) reads.
    type: str
    default: ""
"""

EXAMPLES = r"""
- name: Take the run lease in the name of this run
  statesafe.backup.bup_lock:
    repository: /srv/bup
    owner: "backup {{ lookup('statesafe.backup.run_lease', 'owner') }}"

- name: A lease left by a killed run on this host
  ansible.builtin.set_fact:
    stale: "{{ lookup('statesafe.backup.run_lease', 'stale', repository='/srv/bup') }}"
"""

RETURN = r"""
_raw:
  description:
    - For V(owner), one string C([run pid=N start=T host=H]).
    - For V(stale), one dict, the lease (token, owner, host, pid, since, expires_epoch) plus C(reason), or empty.
  type: list
"""

import os
import socket
import time

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.statesafe.backup.plugins.module_utils.report.run_owner import (
    owner_tag,
    read_lease,
    stale_lease,
    start_ticks,
)


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        out = []
        for term in terms:
            if term == "owner":
                # Lookups run in a worker forked by ansible-playbook: the run is the worker's parent.
                pid = os.getppid()
                out.append(owner_tag(pid, start_ticks(pid), socket.gethostname()))
            elif term == "stale":
                repository = self.get_option("repository")
                if not repository or not os.path.isabs(repository):
                    raise AnsibleLookupError("run_lease stale needs repository, an absolute path")
                out.append(stale_lease(read_lease(repository), socket.gethostname(), time.time()) or {})
            else:
                raise AnsibleLookupError("run_lease takes 'owner' or 'stale', not {0!r}".format(term))
        return out
