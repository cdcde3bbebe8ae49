# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Deterministic YAML of API objects: a fast emitter for JSON-like data, PyYAML for the rest.

Sorted keys, block style, multi-line strings as literal blocks, no line
folding: the same object always gives the same bytes, so a file is rewritten
only when the object changed.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

try:
    import yaml

    try:
        _Dumper = yaml.CSafeDumper
    except AttributeError:  # PyYAML built without libyaml: same output, slower
        _Dumper = yaml.SafeDumper
    _Loader = getattr(yaml, "CSafeLoader", None) or yaml.SafeLoader

    class _ManifestDumper(_Dumper):  # pylint: disable=too-many-ancestors
        """SafeDumper that writes multi-line strings as literal blocks."""

    def _represent_str(dumper, value):
        if "\n" in value:
            return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
        return dumper.represent_scalar("tag:yaml.org,2002:str", value)

    _ManifestDumper.add_representer(str, _represent_str)
except ImportError:  # reported by the module's requirement check
    yaml = None


def render_yaml(obj):
    """Deterministic YAML bytes: sorted keys, block style, no line folding.

    JSON-like data (what the API returns) goes through a small emitter that is
    several times faster than PyYAML's representer; anything else (floats,
    non-string keys) falls back to PyYAML. Both read back to the same data.
    """
    try:
        lines = ["---"]
        _emit_block(obj, 0, lines)
        return ("\n".join(lines) + "\n").encode("utf-8")
    except _NotPlainData:
        return _render_with_pyyaml(obj)


def _render_with_pyyaml(obj):
    text = yaml.dump(
        obj,
        Dumper=_ManifestDumper,
        sort_keys=True,
        default_flow_style=False,
        allow_unicode=True,
        width=1 << 30,
        explicit_start=True,
    )
    return text.encode("utf-8")


class _NotPlainData(Exception):
    """The object holds something the fast emitter does not handle."""


_PLAIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+/=._-]*$")
_YAML_BREAKS = ("\x85", "\u2028", "\u2029", "\ufeff")
_STR_TAG = "tag:yaml.org,2002:str"
_resolver = yaml.resolver.Resolver() if yaml is not None else None


def _needs_escapes(value):
    return not value.isprintable() or any(c in value for c in _YAML_BREAKS)


def _double_quoted(value):
    out = []
    for char in value:
        code = ord(char)
        if char == "\\":
            out.append("\\\\")
        elif char == '"':
            out.append('\\"')
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif code < 0x20 or 0x7F <= code <= 0x9F:
            out.append("\\x{0:02x}".format(code))
        elif char in _YAML_BREAKS or (0xD800 <= code <= 0xDFFF) or not char.isprintable() and code > 0xFF:
            out.append("\\u{0:04x}".format(code) if code <= 0xFFFF else "\\U{0:08x}".format(code))
        else:
            out.append(char)
    return '"' + "".join(out) + '"'


# First characters for which YAML 1.1 may read a plain word as something else
# than a string (bools, null, numbers, timestamps, merge/value keys).
_AMBIGUOUS_FIRST = frozenset("yYnNtTfFoO~0123456789+-.<=")
_key_cache = {}


def _scalar(value):
    """A one-line scalar that reads back as exactly value."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, str):
        raise _NotPlainData()
    if _PLAIN.match(value) and (value[0] not in _AMBIGUOUS_FIRST
                                or _resolver.resolve(yaml.ScalarNode, value, (True, False)) == _STR_TAG):
        return value
    if "\n" not in value and not _needs_escapes(value):
        return "'" + value.replace("'", "''") + "'"
    return _double_quoted(value)


def _literal(value, indent):
    """Lines of a literal block for a multi-line string, or None when it cannot be one."""
    if "\n" not in value or "\r" in value or value.startswith((" ", "\n")):
        return None
    body = value.rstrip("\n")
    trailing = len(value) - len(body)
    parts = body.split("\n")
    for part in parts:
        if part != part.rstrip() or _needs_escapes(part.replace("\t", " ")):
            return None
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    pad = " " * indent
    lines = [pad + part if part else "" for part in parts]
    if trailing > 1:
        lines.extend([""] * (trailing - 1))
    return chomp, lines


def _key(key):
    rendered = _key_cache.get(key)
    if rendered is None:
        if not isinstance(key, str):
            raise _NotPlainData()
        rendered = _scalar(key)
        if len(_key_cache) < 10000:
            _key_cache[key] = rendered
    return rendered


def _emit_value(prefix, value, indent, lines):
    """Write 'prefix value', prefix being 'key:' or '-', nesting as needed."""
    if isinstance(value, dict):
        if not value:
            lines.append(prefix + " {}")
        else:
            lines.append(prefix)
            _emit_block(value, indent + 2, lines)
    elif isinstance(value, list):
        if not value:
            lines.append(prefix + " []")
        else:
            lines.append(prefix)
            _emit_block(value, indent + 2 if prefix.endswith("-") else indent, lines)
    elif isinstance(value, str) and "\n" in value:
        literal = _literal(value, indent + 2)
        if literal is None:
            lines.append(prefix + " " + _double_quoted(value))
        else:
            chomp, body = literal
            lines.append(prefix + " |" + chomp)
            lines.extend(body)
    else:
        lines.append(prefix + " " + _scalar(value))


def _emit_block(value, indent, lines):
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            lines.append(pad + "{}")
        for key in sorted(value):
            _emit_value(pad + _key(key) + ":", value[key], indent, lines)
    elif isinstance(value, list):
        if not value:
            lines.append(pad + "[]")
        for item in value:
            if isinstance(item, dict) and item:
                # '- ' then the mapping's entries, all indented by the dash's width
                start = len(lines)
                _emit_block(item, indent + 2, lines)
                lines[start] = pad + "- " + lines[start][indent + 2:]
            else:
                _emit_value(pad + "-", item, indent, lines)
    else:
        lines.append(pad + _scalar(value))


def load_yaml(data):
    return yaml.load(data, Loader=_Loader)


def load_yaml_or_none(data):
    """The data of YAML bytes, or None when they are not YAML."""
    try:
        return load_yaml(data)
    except yaml.YAMLError:
        return None
