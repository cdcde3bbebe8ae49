# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test aid: writes `STARTED: <task name>` to stdout, flushed, the moment a task starts.

The default callback defers a task's banner until its first result under the free strategy, which the
collection's plays use, so a log of it says which tasks ended, not which one is running. The kill tests
(tests/integration/role_helpers.py, TASK_LOG) wait for this line to kill a run inside a given task."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: task_starts
type: aggregate
short_description: Writes each task's name when it starts (test aid)
description:
  - Writes C(STARTED <task name>) to stdout and flushes it when a task starts, for the kill tests.
requirements:
  - enabled in ANSIBLE_CALLBACKS_ENABLED
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_starts"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_task_start(self, task, is_conditional):
        sys.stdout.write("STARTED: {0}\n".format(task.get_name()))
        sys.stdout.flush()
