# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the restore role: the archived objects to plan, and the readiness of what it applied."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.module_utils.capture import restore_mark
from ansible_collections.statesafe.backup.plugins.module_utils.profile import restore


def restore_objects(components, files, operator=None):
    """The archived objects of the resources components, from ansible.builtin.find's files; those of the operator's
    resources (operator: the profile's ``operator``) are of phase operator."""
    return restore.archived_objects(components, files, (operator or {}).get("resources") or ())


def restore_data_components(components):
    """The volume and dump components, each with only the keys statesafe.backup.restore_plan takes."""
    return restore.data_components(components)


def restore_ready_objects(components, plan_objects, ready_timeout=0, wait_timeout=600):
    """The planned objects of components with a ready description, each with it and its timeout."""
    return restore.ready_objects(components, plan_objects, int(ready_timeout), int(wait_timeout))


def restore_deletion_targets(objects, namespace):
    """What a state=absent k8s task needs to delete each planned object in the target namespace."""
    return restore.deletion_targets(objects, namespace)


def restore_definitions(objects, namespace, mark=None):
    """Each planned object's archived definition (read from its file in the staging tree), in the target namespace,
    carrying the mark of the archive commit `mark` when given (an unfinished restore's objects, see restore_mark)."""
    definitions = []
    for planned in objects:
        try:
            with open(planned["path"], "rb") as handle:
                document = yaml.safe_load(handle)
        except OSError as exc:
            raise AnsibleFilterError("cannot read the archived object {0}: {1}".format(planned["path"], exc)) from exc
        except yaml.YAMLError as exc:
            # The parser's message quotes the offending text, which may be Secret data: only the line is named.
            mark = getattr(exc, "problem_mark", None)
            where = " (line {0})".format(mark.line + 1) if mark is not None else ""
            raise AnsibleFilterError("the archived object {0} is not valid YAML{1}".format(
                planned["path"], where)) from None
        if not isinstance(document, dict):
            raise AnsibleFilterError("the archived object {0} is not a mapping".format(planned["path"]))
        placed = restore.in_namespace(document, namespace)
        definitions.append(restore_mark.with_mark(placed, mark) if mark else placed)
    return definitions


def restore_unmark_patches(objects, namespace):
    """Merge patches (k8s state=patched definitions) removing the restore's mark from each planned object."""
    return restore_mark.unmark_patches(objects, namespace)


def restore_completing_sentinel(objects, namespace, commit):
    """The ConfigMap naming the objects whose marks a restore of `commit` removes next (see restore_mark)."""
    return restore_mark.sentinel_definition(objects, namespace, commit)


def restore_not_ready(failed_result, namespace):
    """The failure message of a readiness wait: the object, what was waited for, the status it reports."""
    return restore.not_ready_message(failed_result, namespace)


class FilterModule(object):
    def filters(self):
        return {"restore_deletion_targets": restore_deletion_targets, "restore_definitions": restore_definitions,
                "restore_objects": restore_objects, "restore_data_components": restore_data_components,
                "restore_unmark_patches": restore_unmark_patches,
                "restore_completing_sentinel": restore_completing_sentinel,
                "restore_ready_objects": restore_ready_objects, "restore_not_ready": restore_not_ready}
