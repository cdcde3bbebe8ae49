# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Objects as re-appliable, deterministic YAML: pure functions from data to data."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
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

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"

# Server-managed metadata: re-applying it is refused or means something else.
METADATA_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
)

# Per kind, fields the cluster fills in and that break a re-apply elsewhere.
KIND_FIELDS = {
    "Service": ("spec.clusterIP", "spec.clusterIPs"),
    "PersistentVolumeClaim": (
        "spec.volumeName",
        "metadata.annotations['pv.kubernetes.io/bind-completed']",
        "metadata.annotations['pv.kubernetes.io/bound-by-controller']",
        "metadata.annotations['volume.beta.kubernetes.io/storage-provisioner']",
        "metadata.annotations['volume.kubernetes.io/storage-provisioner']",
        "metadata.annotations['volume.kubernetes.io/selected-node']",
    ),
    "Pod": ("spec.nodeName",),
}

SECRET_KINDS = ("Secret",)
SECRET_VALUE_FIELDS = ("data", "stringData")
REDACTED = "<hidden>"
REDACTED_CHANGED = "<hidden, changed>"

_TOKEN = re.compile(
    r"""
    (?P<name>[^.\[\]]+)           # bare name
    | \[ (?P<star>\*) \]          # [*]
    | \[ (?P<index>-?\d+) \]      # [3]
    | \[ '(?P<sq>[^']*)' \]       # ['key.with.dots']
    | \[ "(?P<dq>[^"]*)" \]       # ["key"]
    | (?P<dot>\.)
    """,
    re.VERBOSE,
)


def parse_path(path):
    """'spec.a[*].b' -> ['spec', 'a', '*', 'b'] (ints for [N], '*' for [*])."""
    if not path or not isinstance(path, str):
        raise ValueError("empty path")
    tokens = []
    position = 0
    expect_name = True
    while position < len(path):
        match = _TOKEN.match(path, position)
        if not match:
            raise ValueError("cannot parse path {0!r} at {1!r}".format(path, path[position:]))
        position = match.end()
        if match.group("dot"):
            if expect_name:
                raise ValueError("unexpected '.' in path {0!r}".format(path))
            expect_name = True
            continue
        if match.group("name") is not None:
            if not expect_name:
                raise ValueError("missing '.' before {0!r} in path {1!r}".format(match.group("name"), path))
            tokens.append(match.group("name").strip())
        elif match.group("star"):
            tokens.append("*")
        elif match.group("index") is not None:
            tokens.append(int(match.group("index")))
        else:
            tokens.append(match.group("sq") if match.group("sq") is not None else match.group("dq"))
        expect_name = False
    if expect_name:
        raise ValueError("path {0!r} ends with '.'".format(path))
    return tokens


def path_values(obj, path):
    """All values a path reaches; [*] fans out over lists and dict values."""
    current = [obj]
    for token in parse_path(path):
        following = []
        for value in current:
            if token == "*":
                if isinstance(value, list):
                    following.extend(value)
                elif isinstance(value, dict):
                    following.extend(value[k] for k in sorted(value))
            elif isinstance(token, int):
                if isinstance(value, list) and -len(value) <= token < len(value):
                    following.append(value[token])
            elif isinstance(value, dict) and token in value:
                following.append(value[token])
        current = following
    return current


def delete_path(obj, path):
    """Remove what the path points to, in place; missing parts are ignored."""
    tokens = parse_path(path)
    parents = [obj]
    for token in tokens[:-1]:
        following = []
        for value in parents:
            if token == "*":
                if isinstance(value, list):
                    following.extend(value)
                elif isinstance(value, dict):
                    following.extend(value.values())
            elif isinstance(token, int):
                if isinstance(value, list) and -len(value) <= token < len(value):
                    following.append(value[token])
            elif isinstance(value, dict) and token in value:
                following.append(value[token])
        parents = following
    last = tokens[-1]
    for parent in parents:
        if isinstance(parent, dict):
            if last == "*":
                parent.clear()
            else:
                parent.pop(last, None)
        elif isinstance(parent, list) and isinstance(last, int) and -len(parent) <= last < len(parent):
            del parent[last]


def strip_object(obj, strip_owner_references=True, strip_namespace=False, extra_paths=()):
    """A copy of obj without what must not be re-applied.

    Keeps apiVersion, kind, name, labels, annotations (minus kubectl's
    last-applied copy), type, data and spec. Only the parts that change are
    copied (a LIST of thousands of objects is stripped in milliseconds); the
    input is never modified.
    """
    paths = KIND_FIELDS.get(obj.get("kind"), ()) + tuple(extra_paths or ())
    if obj.get("kind") == "Service" and (obj.get("spec") or {}).get("clusterIP") == "None":
        # A headless Service's "None" is the user's choice, not an assigned address.
        paths = tuple(p for p in paths if p not in ("spec.clusterIP", "spec.clusterIPs"))
    if paths:
        result = copy.deepcopy(obj)
    else:
        result = dict(obj)
    result.pop("status", None)
    metadata = dict(result.get("metadata") or {})
    result["metadata"] = metadata
    for field in METADATA_FIELDS:
        metadata.pop(field, None)
    if strip_owner_references:
        metadata.pop("ownerReferences", None)
    if strip_namespace:
        metadata.pop("namespace", None)
    if isinstance(metadata.get("annotations"), dict):
        metadata["annotations"] = dict(metadata["annotations"])
    for path in paths:
        delete_path(result, path)
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            metadata.pop("annotations", None)
    if metadata.get("labels") == {}:
        metadata.pop("labels")
    return result


def _names_in(value):
    """Names a referenced field holds: a string, a {name: ...} ref, or lists of them."""
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, dict):
        name = value.get("name")
        return [name] if isinstance(name, str) and name else []
    if isinstance(value, list):
        names = []
        for item in value:
            names.extend(_names_in(item))
        return names
    return []


def _find_fields(value, field_names, found):
    if isinstance(value, dict):
        for key in sorted(value):
            if key in field_names:
                found.extend(_names_in(value[key]))
            _find_fields(value[key], field_names, found)
    elif isinstance(value, list):
        for item in value:
            _find_fields(item, field_names, found)


def referenced_names(obj, paths=(), field_names=()):
    """Sorted names obj refers to, through explicit paths or any matching key under spec."""
    found = []
    for path in paths or ():
        for value in path_values(obj, path):
            found.extend(_names_in(value))
    if field_names:
        _find_fields(obj.get("spec") or {}, frozenset(field_names), found)
    return sorted(set(found))


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]*$")


def object_relpath(kind, name):
    """'<Kind>/<name>.yaml'; refuses names that are not plain file names."""
    for part, what in ((kind, "kind"), (name, "name")):
        if not part or not _SAFE_NAME.match(part) or part in (".", ".."):
            raise ValueError("{0} {1!r} cannot be used as a file name".format(what, part))
    return "{0}/{1}.yaml".format(kind, name)


def is_secret(obj):
    return obj.get("kind") in SECRET_KINDS and obj.get("apiVersion", "v1") == "v1"


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


def redact_pair(before, after):
    """Copies of two versions of a Secret with every value hidden.

    Keys stay visible; a value that differs shows as changed on the after side,
    so --diff says which key changed without saying what it is.
    """
    before = copy.deepcopy(before) if isinstance(before, dict) else before
    after = copy.deepcopy(after) if isinstance(after, dict) else after
    for field in SECRET_VALUE_FIELDS:
        old = before.get(field) if isinstance(before, dict) else None
        new = after.get(field) if isinstance(after, dict) else None
        if isinstance(old, dict):
            before[field] = dict((key, REDACTED) for key in old)
        if isinstance(new, dict):
            after[field] = dict(
                (key, REDACTED if isinstance(old, dict) and old.get(key) == value else REDACTED_CHANGED)
                for key, value in new.items()
            )
    return before, after


def diff_entry(relpath, old_bytes, new_obj, new_bytes):
    """One --diff entry for a file; Secret values never appear in it."""
    header_before = "{0} (before)".format(relpath)
    header_after = "{0} (after)".format(relpath)
    if is_secret(new_obj):
        old_obj = None
        if old_bytes is not None:
            try:
                old_obj = load_yaml(old_bytes)
            except yaml.YAMLError:
                old_obj = None
        before, after = redact_pair(old_obj if isinstance(old_obj, dict) else {}, new_obj)
        before_text = render_yaml(before).decode("utf-8") if old_bytes is not None else ""
        after_text = render_yaml(after).decode("utf-8")
    else:
        before_text = old_bytes.decode("utf-8", "replace") if old_bytes is not None else ""
        after_text = new_bytes.decode("utf-8")
    return {"before_header": header_before, "after_header": header_after,
            "before": before_text, "after": after_text}


def removal_diff_entry(relpath, is_secret_file):
    text = "# {0} removed{1}\n".format(relpath, " (content hidden)" if is_secret_file else "")
    return {"before_header": relpath, "after_header": "(absent)", "before": text, "after": ""}
