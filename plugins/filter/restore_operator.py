# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the restore role for a profile with an operator (module_utils/profile/operator.py)."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.statesafe.backup.plugins.module_utils.profile import operator


def restore_operator_settings(profile, namespace):
    """The profile's operator with its defaults, {} when the profile has none."""
    return operator.settings(profile, namespace)


def restore_operator_pause(deployment):
    """What stopping and starting the operator's Deployment needs (module_utils/profile/operator.pause)."""
    return operator.pause(deployment)


def restore_operator_scale_patch(replicas, deployment, namespace, stop):
    """The Deployment merge patch that stops the operator (recording `replicas`) or starts it at `replicas`."""
    patch = operator.stop_patch(replicas) if stop else operator.start_patch(replicas)
    patch["metadata"].update({"name": deployment, "namespace": namespace})
    return dict(patch, apiVersion="apps/v1", kind="Deployment")


def _archived_data(planned):
    try:
        with open(planned["path"], "rb") as handle:
            document = yaml.safe_load(handle)
    except OSError as exc:
        raise AnsibleFilterError("cannot read the archived object {0}: {1}".format(planned["path"], exc)) from exc
    except yaml.YAMLError:
        # The parser's message quotes the offending text, which is Secret data: only the file is named.
        raise AnsibleFilterError("the archived object {0} is not valid YAML".format(planned["path"])) from None
    return (document or {}).get("data") or {} if isinstance(document, dict) else {}


def restore_changed_secrets(live, plan_objects):
    """The names of the Secrets the restore applied whose live data differs from the archive's (or that are gone)."""
    archived = dict((o["name"], _archived_data(o)) for o in plan_objects or []
                    if o.get("kind") == "Secret" and o.get("action") in ("create", "update", "recreate"))
    return operator.changed_secrets(archived, live)


def restore_secrets_changed_message(names, namespace, settings):
    """The failure message naming each restored Secret the operator changed."""
    return operator.regenerated_message(names, namespace, settings)


class FilterModule(object):
    def filters(self):
        return {"restore_operator_settings": restore_operator_settings,
                "restore_operator_pause": restore_operator_pause,
                "restore_operator_scale_patch": restore_operator_scale_patch,
                "restore_changed_secrets": restore_changed_secrets,
                "restore_secrets_changed_message": restore_secrets_changed_message}
