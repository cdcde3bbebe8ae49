# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Values users write in annotations: a command (a shell line or a JSON list) and a duration.

Shared by the backup hooks pods declare (capture/pod_hooks.py) and the dumps pod templates declare
(profile/dump_annotations.py), so both read `30s` and `["pg_dump", "-Fc"]` alike. Pure; errors are InvalidInput
naming the annotation (`where`).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import re

from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput

MAX_TIMEOUT = 86400
_DURATION = re.compile(r"^\s*([0-9]+)\s*(s|m|h)?\s*$")
_UNIT = {None: 1, "s": 1, "m": 60, "h": 3600}


def parse_timeout(value, where, what="timeout"):
    """'30', '30s', '2m', '1h' -> seconds (1 .. 86400); `what` names the value in the error."""
    match = _DURATION.match(str(value))
    if not match:
        raise InvalidInput("{0}: {1} {2!r} is not a number of seconds or a duration such as 30s, 2m or 1h".format(
            where, what, value))
    seconds = int(match.group(1)) * _UNIT[match.group(2)]
    if not 1 <= seconds <= MAX_TIMEOUT:
        raise InvalidInput("{0}: {1} {2!r} must be between 1 second and 24 hours".format(where, what, value))
    return seconds


def parse_command(value, where):
    """A shell line -> {'command': line}; a JSON list of strings -> {'argv': list}."""
    text = value.strip() if isinstance(value, str) else ""
    if not text:
        raise InvalidInput("{0}: the command is empty".format(where))
    if text.startswith("["):
        try:
            argv = json.loads(text)
        except ValueError as exc:
            raise InvalidInput("{0}: the command starts with '[' but is not a JSON list: {1}".format(where, exc)) from exc
        if not argv or not all(isinstance(word, str) and word for word in argv):
            raise InvalidInput("{0}: a JSON command must be a non-empty list of non-empty strings".format(where))
        return {"argv": argv}
    return {"command": text}
