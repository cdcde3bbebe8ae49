# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Profile parameters: the names, selectors, containers and credentials a profile leaves to the deployment.

A profile declares its parameters (``parameters: {statefulset: {default: postgresql, description: ...}}``) and uses
them as ``%{statefulset}`` in any string of its label selector, components, hooks and checks. This module is the one
place they are checked and substituted:

- declaration_errors(profile): the declarations themselves, a placeholder of an undeclared parameter, a declared
  parameter never used, a placeholder where none may be (the profile's and the components' names);
- effective(profile, given, recorded): the values a run uses (declared defaults, then the values an archive recorded,
  then the user's), and the problems of the user's (an unknown name, a value its type refuses);
- resolve(profile, values): the profile with every placeholder replaced and its ``parameters`` section gone.

Values are validated, not quoted. The same value lands in shell commands, in SQL inside them, in label selectors and
in object names, and quoting for one of these is wrong in the others; so each type admits only characters that are
literal in all of them (no whitespace, quote, ``$``, backquote, ``;``, ``&``, ``|``, ``<``, ``>``, parenthesis,
glob character, ``#``, ``~`` or brace), and no value starts with ``-`` (it cannot become a command's option).
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

# A placeholder: '%{' anything but braces '}'. Anything inside that is not a declared name is refused at validation,
# so a misspelt or spaced placeholder cannot reach a command unreplaced.
PLACEHOLDER = re.compile(r"%\{([^{}]*)\}")
PARAMETER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
DECLARATION_KEYS = ("default", "description", "type")
_LABEL_KEY = r"([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?"
_LABEL_VALUE = r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?"
_REQUIREMENT = _LABEL_KEY + "((==|!=|=)" + _LABEL_VALUE + ")?"
# Each type of value: (pattern, longest value, what the error says a value must be)
TYPES = {
    "name": (re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"), 253,
             "a Kubernetes name (lower-case letters, digits, '-' and '.', starting and ending with a letter or digit)"),
    "identifier": (re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$"), 253,
                   "an identifier (letters, digits, '_', '.' and '-', not starting with '-' or '.'): a Secret key, "
                   "a database, user or environment variable name"),
    "selector": (re.compile(r"^" + _REQUIREMENT + r"(," + _REQUIREMENT + r")*$"), 1024,
                 "an equality-based label selector (key=value, key!=value or key, joined by ',', no spaces)"),
}
DEFAULT_TYPE = "name"
# Keys whose value names the profile or a component: an archive, its branch and its files are named after them, so
# they stay the same whatever the deployment.
_FIXED = ("name",)


def kind(value):
    """What a YAML value is, in words, for error messages (shared with schema.py)."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, (list, tuple)):
        return "a list"
    if isinstance(value, int):
        return "a number"
    if value is None:
        return "null"
    return "a string" if isinstance(value, str) else type(value).__name__


def declared(profile):
    """The profile's parameter declarations ({} when it has none or they are not a mapping)."""
    section = profile.get("parameters") if isinstance(profile, dict) else None
    return section if isinstance(section, dict) else {}


def value_error(name, declaration, value, profile_name):
    """Why `value` is not a valid value of parameter `name`, or None."""
    label = "parameter {0!r} of profile {1!r}".format(name, profile_name)
    if not isinstance(value, str):
        return "{0}: must be a string, got {1}".format(label, kind(value))
    if value == "":
        if declaration.get("default") == "":
            return None
        return "{0}: must not be empty (only a parameter whose default is '' may be)".format(label)
    pattern, longest, what = TYPES.get(declaration.get("type", DEFAULT_TYPE), TYPES[DEFAULT_TYPE])
    if len(value) > longest or not pattern.match(value):
        return "{0}: {1!r} is not {2}".format(label, value, what)
    return None


def _strings(value, path, out=None):
    """[(path, string)] of every string inside value, keys excluded, in document order."""
    out = [] if out is None else out
    if isinstance(value, str):
        out.append((path, value))
    elif isinstance(value, dict):
        for key, item in value.items():
            _strings(item, "{0}.{1}".format(path, key) if path else str(key), out)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _strings(item, "{0}[{1}]".format(path, index), out)
    return out


def _uses(profile):
    """(path, placeholder name) of every placeholder in the parts of the profile that may hold one."""
    for key, value in profile.items():
        if key == "parameters":
            continue
        for path, text in _strings(value, key):
            for match in PLACEHOLDER.finditer(text):
                yield path, match.group(1)


def declaration_errors(profile):
    """Every problem of the profile's parameters section and placeholders, as 'key.path: message'."""
    if not isinstance(profile, dict):
        return []
    errors = []
    profile_name = profile.get("name")
    section = profile.get("parameters")
    if section is not None and not isinstance(section, dict):
        errors.append("parameters: must be a mapping of parameter names to declarations, got {0}".format(
            kind(section)))
    for name, declaration in sorted(declared(profile).items(), key=lambda item: str(item[0])):
        path = "parameters.{0}".format(name)
        if not isinstance(name, str) or not PARAMETER_NAME.match(name):
            errors.append("{0}: {1!r} is not a parameter name (lower-case letters, digits and '_', starting with a "
                          "letter)".format(path, name))
        if not isinstance(declaration, dict):
            errors.append("{0}: must be a mapping with default and description, got {1}".format(
                path, kind(declaration)))
            continue
        for key in sorted(set(declaration) - set(DECLARATION_KEYS), key=str):
            errors.append("{0}.{1}: unknown key (expected one of {2})".format(path, key, ", ".join(DECLARATION_KEYS)))
        for key in ("default", "description"):
            if key not in declaration:
                errors.append("{0}.{1}: required".format(path, key))
        description = declaration.get("description")
        if "description" in declaration and (not isinstance(description, str) or not description.strip()):
            errors.append("{0}.description: must be a non-empty string".format(path))
        ptype = declaration.get("type", DEFAULT_TYPE)
        if ptype not in TYPES:
            errors.append("{0}.type: {1!r} is not one of {2}".format(path, ptype, ", ".join(sorted(TYPES))))
        elif "default" in declaration:
            problem = value_error(name, declaration, declaration["default"], profile_name)
            if problem:
                errors.append("{0}.default: {1}".format(path, problem))
    names = declared(profile)
    used = set()
    for path, name in _uses(profile):
        used.add(name)
        if path in _FIXED or re.match(r"^components\[\d+\]\.name$", path):
            errors.append("{0}: names the archive's parts and may not use a parameter (%{{{1}}})".format(path, name))
        elif name not in names:
            errors.append("{0}: uses parameter %{{{1}}}, which the profile does not declare ({2})".format(
                path, name, "declared: " + ", ".join(sorted(names)) if names else "it declares none"))
    for name in sorted(set(names) - used, key=str):
        errors.append("parameters.{0}: declared but not used anywhere in the profile".format(name))
    return errors


def effective(profile, given=None, recorded=None):
    """(values, errors): the value of every declared parameter for a run, and the problems of `given`.

    Declared defaults first, then `recorded` (what an archive's manifest says its backup used; names the profile
    no longer declares are left out), then `given` (the user's). A name in `given` the profile does not declare, and
    a value its type refuses, is an error naming the profile and the parameter.
    """
    names = declared(profile)
    profile_name = profile.get("name") if isinstance(profile, dict) else None
    errors = []
    values = {}
    for name, declaration in names.items():
        if isinstance(declaration, dict) and "default" in declaration:
            values[name] = declaration["default"]
    for name, value in (recorded or {}).items():
        if name in names and value_error(name, names[name], value, profile_name) is None:
            values[name] = value
    if given is not None and not isinstance(given, dict):
        return values, ["the parameters of profile {0!r} must be a mapping of names to values, got {1}".format(
            profile_name, kind(given))]
    for name in sorted(given or {}, key=str):
        if name not in names:
            errors.append("profile {0!r} has no parameter {1!r} ({2})".format(
                profile_name, name, "its parameters: " + ", ".join(sorted(names)) if names else "it takes none"))
            continue
        problem = value_error(name, names[name], given[name], profile_name)
        if problem:
            errors.append(problem)
        else:
            values[name] = given[name]
    return values, errors


def _substitute(value, values):
    if isinstance(value, str):
        return PLACEHOLDER.sub(lambda match: values[match.group(1)], value)
    if isinstance(value, dict):
        return dict((key, _substitute(item, values)) for key, item in value.items())
    if isinstance(value, list):
        return [_substitute(item, values) for item in value]
    return copy.deepcopy(value)


def resolve(profile, values):
    """The profile with every %{name} replaced by values[name], without its parameters section.

    `profile` must be free of declaration errors and `values` hold every declared name (effective() gives both).
    A profile without parameters comes back equal to itself.
    """
    return dict((key, _substitute(value, values)) for key, value in profile.items() if key != "parameters")


def describe(profile):
    """What a listing shows of a profile: name, description and each parameter with its default and description."""
    out = {"name": profile.get("name"), "description": (profile.get("description") or "").strip(),
           "parameters": []}
    for name, declaration in sorted(declared(profile).items(), key=lambda item: str(item[0])):
        declaration = declaration if isinstance(declaration, dict) else {}
        out["parameters"].append({"name": name, "default": declaration.get("default"),
                                  "type": declaration.get("type", DEFAULT_TYPE),
                                  "description": " ".join(str(declaration.get("description", "")).split())})
    return out
