# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The profile schema: every key the roles and modules read from a profile, and one validator.

validate(profile) returns every problem at once, each naming its key path, e.g.
``components[2].claim: required for type volume``. The preflights of backup, restore, verify and schedule
refuse a profile with problems before anything runs. docs/profile-reference.md describes the same keys.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

from ansible_collections.statesafe.backup.plugins.module_utils.profile import namespace as _namespace
from ansible_collections.statesafe.backup.plugins.module_utils.profile import parameters as _parameters

NAME_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9._-]*[a-z0-9])?$")
# Component names become file names (dumps/<name>.<extension>) and step names.
COMPONENT_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
COMPONENT_TYPES = ("resources", "dump", "volume")
# An image reference as a pod spec takes it: [registry/]path[:tag][@sha256:digest], no spaces.
IMAGE_REF = re.compile(r"^[a-z0-9][a-z0-9._:/-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[0-9a-f]{64})?$")
RESTORE_PHASES = ("early", "last")
ON_ERROR = ("fail", "continue")

TOP_KEYS = ("name", "description", "parameters", "label_selector", "hooks", "components", "check", "operator")
# Namespace mode (profile/namespace.py): the backup discovers the components, so the profile names none.
DISCOVER_TOP_KEYS = ("name", "description", "hooks", "discover")
DISCOVER_KEYS = ("exclude",)
# Keys of each component type: (required, optional). Common to all: name, type.
COMPONENT_KEYS = {
    "resources": (("resources",), ("restore_phase", "ready")),
    "dump": (("command",),
             ("pod", "workload", "workload_kind", "restore_command", "container", "extension", "trailer", "timeout",
              "statefulset", "revision")),
    "volume": (("claim",), ("statefulset", "workload", "workload_kind", "path", "exclude", "timeout", "revision",
                            "helper_image", "through", "container")),
}
# How a backup reads a claim: a helper pod that mounts it, or the container of a running pod that does.
VOLUME_THROUGH = ("helper", "user")
# The kinds a volume's or a dump's workload can be: those with a scale subresource (k8s/claim_workloads.py).
WORKLOAD_KINDS = ("StatefulSet", "Deployment", "ReplicaSet")
SELECTION_KEYS = ("kind", "api_version", "names", "label_selectors", "optional", "references")
REFERENCE_KEYS = ("kind", "api_version", "paths", "field_names", "optional")
READY_KEYS = ("path", "value", "condition", "timeout")
REVISION_KEYS = ("command", "pod", "container", "timeout")
HOOK_KEYS = ("name", "pod", "label_selector", "container", "command", "argv", "timeout", "on_error")
CHECK_KEYS = ("name", "pod", "container", "command", "argv", "local", "expect", "compare", "timeout")
OPERATOR_KEYS = ("deployment", "namespace", "resources", "workloads", "settle")
OPERATOR_WORKLOAD_KEYS = ("kind", "name")
# The kinds an operator's workload can be: what the restore can tell is Ready (profile/operator.py).
OPERATOR_WORKLOAD_KINDS = ("StatefulSet", "Deployment")
# Ansible templates a profile's strings: a shell line such as ${%{name}} or ${#var} opens a Jinja tag or comment,
# and the run fails with "Syntax error in template". The schema names the key, so the shipped profiles' tests and
# a user's own check of a profile catch it before a run does.
TEMPLATE_DELIMITERS = ("{{", "{%", "{#")


_kind = _parameters.kind


class _Checker(object):
    def __init__(self):
        self.errors = []

    def error(self, path, message):
        self.errors.append("{0}: {1}".format(path, message))

    def mapping(self, path, value):
        if not isinstance(value, dict):
            self.error(path, "must be a mapping, got {0}".format(_kind(value)))
            return False
        return True

    def keys(self, path, value, allowed, why=""):
        for key in sorted(set(value) - set(allowed), key=str):
            self.error("{0}.{1}".format(path, key) if path else str(key),
                       "unknown key{0} (expected one of {1})".format(why, ", ".join(allowed)))

    def string(self, path, value, pattern=None, what=None):
        if not isinstance(value, str) or not value.strip():
            self.error(path, "must be a non-empty string, got {0}".format(_kind(value) if value != "" else "''"))
            return False
        if pattern is not None and not pattern.match(value):
            self.error(path, "{0!r} is not {1}".format(value, what))
            return False
        return True

    def string_list(self, path, value, non_empty=False):
        if not isinstance(value, list) or (non_empty and not value):
            self.error(path, "must be a {0}list of strings, got {1}".format(
                "non-empty " if non_empty else "", _kind(value) if isinstance(value, list) is False else "[]"))
            return
        for index, item in enumerate(value):
            if not isinstance(item, str):
                self.error("{0}[{1}]".format(path, index), "must be a string, got {0}".format(_kind(item)))

    def seconds(self, path, value):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.error(path, "must be a positive number of seconds, got {0!r}".format(value))

    def boolean(self, path, value):
        if not isinstance(value, bool):
            self.error(path, "must be true or false, got {0!r}".format(value))

    def one_of(self, path, value, choices):
        if value not in choices:
            self.error(path, "{0!r} is not one of {1}".format(value, ", ".join(choices)))

    def listed(self, path, value):
        if not isinstance(value, list):
            self.error(path, "must be a list, got {0}".format(_kind(value)))
            return []
        return value


def _selection(check, path, selection):
    if not check.mapping(path, selection):
        return
    check.keys(path, selection, SELECTION_KEYS)
    if "kind" not in selection:
        check.error(path + ".kind", "required")
    else:
        check.string(path + ".kind", selection["kind"])
    if "api_version" in selection:
        check.string(path + ".api_version", selection["api_version"])
    for key in ("names", "label_selectors"):
        if key in selection:
            check.string_list("{0}.{1}".format(path, key), selection[key])
    if "optional" in selection:
        check.boolean(path + ".optional", selection["optional"])
    for index, ref in enumerate(check.listed(path + ".references", selection.get("references", []))):
        ref_path = "{0}.references[{1}]".format(path, index)
        if not check.mapping(ref_path, ref):
            continue
        check.keys(ref_path, ref, REFERENCE_KEYS)
        if "kind" not in ref:
            check.error(ref_path + ".kind", "required")
        else:
            check.string(ref_path + ".kind", ref["kind"])
        if "paths" not in ref and "field_names" not in ref:
            check.error(ref_path, "needs paths or field_names")
        for key in ("paths", "field_names"):
            if key in ref:
                check.string_list("{0}.{1}".format(ref_path, key), ref[key])
        if "optional" in ref:
            check.boolean(ref_path + ".optional", ref["optional"])


def _ready(check, path, ready):
    if not check.mapping(path, ready):
        return
    check.keys(path, ready, READY_KEYS)
    if ("path" in ready) == ("condition" in ready):
        check.error(path, "needs exactly one of path (with value) and condition")
    if "path" in ready:
        check.string(path + ".path", ready["path"])
    if "condition" in ready:
        check.string(path + ".condition", ready["condition"])
        if "value" in ready:
            check.error(path + ".value", "only with path (a condition is waited for until its status is True)")
    if "timeout" in ready:
        check.seconds(path + ".timeout", ready["timeout"])


def _revision(check, path, revision, component):
    if not check.mapping(path, revision):
        return
    check.keys(path, revision, REVISION_KEYS)
    if "command" not in revision:
        check.error(path + ".command", "required")
    else:
        check.string(path + ".command", revision["command"])
    for key in ("pod", "container"):
        if key in revision:
            check.string("{0}.{1}".format(path, key), revision[key])
    if "pod" not in revision and not component.get("pod"):
        check.error(path + ".pod", "required for type {0} (the component names no pod)".format(component.get("type")))
    if "timeout" in revision:
        check.seconds(path + ".timeout", revision["timeout"])


def _component(check, path, component):
    if not check.mapping(path, component):
        return
    if "name" not in component:
        check.error(path + ".name", "required")
    else:
        check.string(path + ".name", component["name"], COMPONENT_NAME_PATTERN,
                     "a component name (letters, digits, '.', '_', '-')")
    ctype = component.get("type")
    if "type" not in component:
        check.error(path + ".type", "required (one of {0})".format(", ".join(COMPONENT_TYPES)))
        return
    if ctype not in COMPONENT_TYPES:
        check.error(path + ".type", "{0!r} is not one of {1}".format(ctype, ", ".join(COMPONENT_TYPES)))
        return
    required, optional = COMPONENT_KEYS[ctype]
    check.keys(path, component, ("name", "type") + required + optional, " for type " + ctype)
    for key in required:
        if key not in component:
            check.error("{0}.{1}".format(path, key), "required for type {0}".format(ctype))
    for key in ("pod", "container", "command", "restore_command", "extension", "trailer", "statefulset", "claim",
                "workload"):
        if key in component and key in required + optional:
            check.string("{0}.{1}".format(path, key), component[key])
    if "timeout" in component and "timeout" in optional:
        check.seconds(path + ".timeout", component["timeout"])
    if ctype == "resources" and "resources" in component:
        selections = check.listed(path + ".resources", component["resources"])
        if isinstance(component["resources"], list) and not selections:
            check.error(path + ".resources", "must name at least one kind")
        for index, selection in enumerate(selections):
            _selection(check, "{0}.resources[{1}]".format(path, index), selection)
    if ctype == "resources" and "restore_phase" in component:
        check.one_of(path + ".restore_phase", component["restore_phase"], RESTORE_PHASES)
    if ctype == "resources" and "ready" in component:
        _ready(check, path + ".ready", component["ready"])
    if ctype == "volume" and "path" in component:
        if check.string(path + ".path", component["path"]) and ".." in component["path"].split("/"):
            check.error(path + ".path", "must stay inside the claim (no '..'), got {0!r}".format(component["path"]))
    if ctype == "volume" and "exclude" in component:
        check.string_list(path + ".exclude", component["exclude"])
    if ctype in ("volume", "dump"):
        _volume_workload(check, path, component)
    if ctype == "dump" and ("pod" in component) == ("workload" in component):
        check.error(path + ".pod", "a dump runs in the pod named by pod, or in a ready pod of the workload named by "
                                   "workload: exactly one of them")
    if ctype == "volume" and "helper_image" in component:
        check.string(path + ".helper_image", component["helper_image"], IMAGE_REF, "an image reference")
    if ctype == "volume" and "through" in component:
        check.one_of(path + ".through", component["through"], VOLUME_THROUGH)
    if ctype == "volume" and "container" in component and component.get("through") != "user":
        check.error(path + ".container", "only with through: user (the container of the claim's user to read "
                                         "through; a helper pod has its own)")
    if ctype in ("dump", "volume") and component.get("revision") is not None:
        _revision(check, path + ".revision", component["revision"], component)


def _volume_workload(check, path, component):
    """statefulset (the first spelling, kept) or workload with workload_kind, never both."""
    if "statefulset" in component and "workload" in component:
        check.error(path, "names its workload twice: statefulset (a StatefulSet) or workload (with workload_kind), "
                          "not both")
    if "workload_kind" in component:
        if "workload" not in component:
            check.error(path + ".workload_kind", "only with workload (the workload's name)")
        check.one_of(path + ".workload_kind", component["workload_kind"], WORKLOAD_KINDS)


def _hook(check, path, hook):
    if not check.mapping(path, hook):
        return
    check.keys(path, hook, HOOK_KEYS)
    if not hook.get("pod") and not hook.get("label_selector"):
        check.error(path, "needs pod or label_selector")
    if ("command" in hook) == ("argv" in hook):
        check.error(path, "needs exactly one of command and argv")
    for key in ("name", "pod", "label_selector", "container", "command"):
        if key in hook:
            check.string("{0}.{1}".format(path, key), hook[key])
    if "argv" in hook:
        check.string_list(path + ".argv", hook["argv"], non_empty=True)
    if "timeout" in hook:
        check.seconds(path + ".timeout", hook["timeout"])
    if "on_error" in hook:
        check.one_of(path + ".on_error", str(hook["on_error"]).lower(), ON_ERROR)


def _check(check, path, item):
    if not check.mapping(path, item):
        return
    check.keys(path, item, CHECK_KEYS)
    if "name" not in item:
        check.error(path + ".name", "required")
    else:
        check.string(path + ".name", item["name"])
    if ("pod" in item) == ("local" in item):
        check.error(path, "needs exactly one of pod (run in a pod) and local (an argv run on the controller)")
    if "pod" in item:
        check.string(path + ".pod", item["pod"])
        if ("command" in item) == ("argv" in item):
            check.error(path, "needs exactly one of command and argv with pod")
    elif "local" in item:
        check.string_list(path + ".local", item["local"], non_empty=True)
        for key in ("container", "command", "argv"):
            if key in item:
                check.error("{0}.{1}".format(path, key), "only with pod (local is the whole argv)")
    for key in ("container", "command"):
        if key in item and "pod" in item:
            check.string("{0}.{1}".format(path, key), item[key])
    if "argv" in item and "pod" in item:
        check.string_list(path + ".argv", item["argv"], non_empty=True)
    if "compare" in item:
        check.one_of(path + ".compare", item["compare"], ("source",))
    if "expect" in item and isinstance(item["expect"], (dict, list)):
        check.error(path + ".expect", "must be a string or a number, got {0}".format(_kind(item["expect"])))
    if "timeout" in item:
        check.seconds(path + ".timeout", item["timeout"])


def _operator(check, operator, components):
    """The operator that reconciles the application (docs/profile-reference.md, "operator")."""
    if not check.mapping("operator", operator):
        return
    check.keys("operator", operator, OPERATOR_KEYS)
    if "deployment" not in operator:
        check.error("operator.deployment", "required (the operator's Deployment, stopped while data is written)")
    else:
        check.string("operator.deployment", operator["deployment"])
    if "namespace" in operator:
        check.string("operator.namespace", operator["namespace"], NAME_PATTERN, "a namespace name")
    by_name = dict((c.get("name"), c) for c in components if isinstance(c, dict))
    if "resources" not in operator:
        check.error("operator.resources", "required (the resources components holding what the operator reconciles)")
    else:
        check.string_list("operator.resources", operator["resources"], non_empty=True)
        for index, name in enumerate(operator["resources"] if isinstance(operator["resources"], list) else []):
            path = "operator.resources[{0}]".format(index)
            component = by_name.get(name)
            if not isinstance(name, str):
                continue
            if component is None:
                check.error(path, "{0!r} is not a component of the profile".format(name))
            elif component.get("type") != "resources":
                check.error(path, "{0!r} is a {1} component; only resources components hold what an operator "
                                  "reconciles".format(name, component.get("type")))
            elif component.get("restore_phase") == "last":
                check.error(path, "{0!r} has restore_phase last, but the operator's resources are applied before "
                                  "the data: leave restore_phase out".format(name))
    for index, workload in enumerate(check.listed("operator.workloads", operator.get("workloads", []))):
        path = "operator.workloads[{0}]".format(index)
        if not check.mapping(path, workload):
            continue
        check.keys(path, workload, OPERATOR_WORKLOAD_KEYS)
        for key in OPERATOR_WORKLOAD_KEYS:
            if key not in workload:
                check.error("{0}.{1}".format(path, key), "required")
        if "kind" in workload:
            check.one_of(path + ".kind", workload["kind"], OPERATOR_WORKLOAD_KINDS)
        if "name" in workload:
            check.string(path + ".name", workload["name"])
    if "settle" in operator:
        settle = operator["settle"]
        if isinstance(settle, bool) or not isinstance(settle, int) or settle < 0:
            check.error("operator.settle", "must be a number of seconds (0 or more), got {0!r}".format(settle))


def validate(profile, parameters=None):
    """Every problem of `profile`, as 'key.path: message' strings, in document order; [] when it is valid.

    With parameters declared (parameters.py), their declarations and placeholders are checked, `parameters` (the
    user's values, a mapping) against them, and the rest of the schema against the profile as the run would use it:
    with every placeholder replaced by its value.
    """
    declaration = _parameters.declaration_errors(profile)
    values, given = _parameters.effective(profile, parameters) if isinstance(profile, dict) else ({}, [])
    resolved = _parameters.resolve(profile, values) if isinstance(profile, dict) and not declaration else profile
    return declaration + given + template_delimiter_errors(profile) + _validate_resolved(resolved)


def template_delimiter_errors(value, path=""):
    """Every string in `value` (a profile or part of one) that holds a Jinja delimiter, named by its key path."""
    if isinstance(value, dict):
        return [error for key, item in value.items()
                for error in template_delimiter_errors(item, "{0}.{1}".format(path, key) if path else str(key))]
    if isinstance(value, list):
        return [error for index, item in enumerate(value)
                for error in template_delimiter_errors(item, "{0}[{1}]".format(path, index))]
    if isinstance(value, str):
        found = [delimiter for delimiter in TEMPLATE_DELIMITERS if delimiter in value]
        if found:
            return ["{0}: holds {1}, which Ansible reads as a template; write it another way (for a shell "
                    "variable named by a parameter: v=%{{name}}; eval \"x=\\${{$v}}\")".format(
                        path or "profile", " and ".join(repr(delimiter) for delimiter in found))]
    return []


def _validate_resolved(profile):
    check = _Checker()
    if not isinstance(profile, dict):
        return ["profile: must be a mapping with name and components, got {0}".format(_kind(profile))]
    discovering = "discover" in profile
    check.keys("", profile, DISCOVER_TOP_KEYS if discovering else TOP_KEYS,
               " (a profile with discover has its components made by the backup)" if discovering else "")
    discover = profile.get("discover") if profile.get("discover") is not None else {}
    if discovering and check.mapping("discover", discover):
        check.keys("discover", discover, DISCOVER_KEYS)
        for message in _namespace.exclusion_errors(discover.get("exclude")):
            path, _sep, text = message.partition(": ")
            check.error(path, text)
    if "name" not in profile:
        check.error("name", "required")
    else:
        check.string("name", profile["name"], NAME_PATTERN,
                     "a profile name (lower-case letters, digits, '.', '_', '-'; it names the bup branch)")
    if "description" in profile:
        check.string("description", profile["description"])
    if "label_selector" in profile and profile["label_selector"] not in (None, ""):
        check.string("label_selector", profile["label_selector"])
    if "hooks" in profile and profile["hooks"] is not None and check.mapping("hooks", profile["hooks"]):
        check.keys("hooks", profile["hooks"], ("pre", "post"))
        for phase in ("pre", "post"):
            for index, hook in enumerate(check.listed("hooks." + phase, profile["hooks"].get(phase) or [])):
                _hook(check, "hooks.{0}[{1}]".format(phase, index), hook)
    if discovering:
        pass  # components, if given, were named above as not taken
    elif "components" not in profile:
        check.error("components", "required (a non-empty list)")
    else:
        components = check.listed("components", profile["components"])
        if isinstance(profile["components"], list) and not components:
            check.error("components", "must not be empty")
        seen = {}
        for index, component in enumerate(components):
            path = "components[{0}]".format(index)
            _component(check, path, component)
            name = component.get("name") if isinstance(component, dict) else None
            if isinstance(name, str):
                if name in seen:
                    check.error(path + ".name", "{0!r} is also the name of components[{1}]".format(name, seen[name]))
                else:
                    seen[name] = index
    if "operator" in profile and profile["operator"] is not None:
        components = profile.get("components") if isinstance(profile.get("components"), list) else []
        _operator(check, profile["operator"], components)
    if "check" in profile and profile["check"] is not None:
        names = {}
        for index, item in enumerate(check.listed("check", profile["check"])):
            _check(check, "check[{0}]".format(index), item)
            name = item.get("name") if isinstance(item, dict) else None
            if isinstance(name, str):
                if name in names:
                    check.error("check[{0}].name".format(index),
                                "{0!r} is also the name of check[{1}]".format(name, names[name]))
                else:
                    names[name] = index
    return check.errors
