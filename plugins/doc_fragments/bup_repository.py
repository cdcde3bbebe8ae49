# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  repository:
    description:
      - Path of a bup repository on the host the task runs on (the directory bup calls C(BUP_DIR)).
      - Exactly one of O(repository) and O(remote) is required.
    type: path
  remote:
    description:
      - A repository reached through bup's own remote protocol, as bup's C(-r) option takes it
        (V(host:/path), V(ssh://host:port/path), or V(file:///path) to run C(bup server) locally).
        C(bup) must be installed on that host.
      - Only some operations work this way, see the docs/bup.md table; the others fail saying to run the task
        on the repository host with O(repository).
    type: str
  remote_cache_dir:
    description:
      - With O(remote), the local bup directory that holds bup's index of the staging tree, its cache of the
        remote's pack indexes, and the run lock. Defaults to C(~/.bup).
    type: path
  lock_timeout:
    description:
      - Seconds to wait for the repository's run lock (another save, retention, fsck or a run lease) before
        failing with a message that names the holder.
    type: int
    default: 60
  lock_token:
    description:
      - Token of a run lease taken with M(statesafe.backup.bup_lock); operations presenting it pass that lease.
    type: str
  bup_command:
    description: The bup executable to run.
    type: str
    default: bup
notes:
  - Operations that write (save, marking, retention, gc, fsck) hold the repository's run lock, an C(flock) on
    C(statesafe.lock) in the repository directory, for their duration.
requirements:
  - bup (0.33 is tested) and git on the host the task runs on
"""
