# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Applying a mirror plan to the local tree, with the files received into staging."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat

from ansible_collections.statesafe.backup.plugins.module_utils.volume import mirror
from ansible_collections.statesafe.backup.plugins.module_utils.volume import tar_safety


def _remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path)
    elif os.path.lexists(path):
        os.unlink(path)


def _mkdir(path):
    """A new directory, or one GNU tar made as a file's parent in a tree being built (never a link)."""
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            raise


def received_in_place(directory, received):
    """True when every received file already sits under its own name in directory (tar_native's layout)."""
    return all(item.staged == os.path.join(directory, relpath) for relpath, item in received.items())


def apply_plan(root, plan, source, received, staging, owner):
    """Make root mirror the source: removals, directories, files, links, modes, owners."""
    verified = set()
    for relpath in plan.remove:
        tar_safety.check_real_parents(root, relpath, verified)
        _remove(os.path.join(root, relpath))
    for relpath in plan.mkdirs:
        tar_safety.check_real_parents(root, relpath, verified)
        _mkdir(os.path.join(root, relpath))
    for relpath in plan.transfer:
        tar_safety.check_real_parents(root, relpath, verified)
        path = os.path.join(root, relpath)
        if received[relpath].staged != path:  # a new tree is built where the files were received
            os.replace(received[relpath].staged, path)
    for index, relpath in enumerate(plan.links):
        tar_safety.check_real_parents(root, relpath, verified)
        temp = os.path.join(staging, "link-{0}".format(index))
        os.symlink(source[relpath].link, temp)
        os.replace(temp, os.path.join(root, relpath))
    for relpath in plan.chmods:
        if source[relpath].type == "file":
            os.chmod(os.path.join(root, relpath), mirror.wanted_mode(source[relpath]))
    if owner is not None:
        for relpath in plan.chowns + plan.mkdirs:
            entry = source[relpath]
            os.lchown(os.path.join(root, relpath), entry.uid, entry.gid)
    # Directory modes last and deepest first, so no directory is closed before it is filled.
    for relpath in sorted(set(plan.mkdirs) | set(p for p in plan.chmods if source[p].type == "dir"), reverse=True):
        os.chmod(os.path.join(root, relpath), mirror.wanted_mode(source[relpath]))
