# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Export selected objects as one deterministic YAML file each.

Compute, then act: every object is listed (one LIST per kind and selector),
stripped and rendered first; the files are compared byte for byte and only
those that differ are written, atomically, and only outside check mode.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import stat
import tempfile
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.statesafe.backup.plugins.module_utils import local_files
from ansible_collections.statesafe.backup.plugins.module_utils.capture import manifest
from ansible_collections.statesafe.backup.plugins.module_utils.capture import manifest_yaml
from ansible_collections.statesafe.backup.plugins.module_utils.errors import (
    InvalidInput,
    KindNotServed,
    ObjectNotFound,
)

SECRET_FILE_MODE = 0o600
FILE_MODE = 0o644
SECRET_DIR_MODE = 0o700
DIR_MODE = 0o755
DEST_MODE = 0o700
# Creating a file costs 0.1-1 ms of kernel time on the test machine's ext4. Two
# threads creating files in one directory contend for its lock and spent more
# system time for no gain (docs/performance.md, third session): one writer.
WRITER_THREADS = 1
NEW_DIR_PREFIX = ".statesafe-new-"


def select_by_name(items, names):
    """(items whose name is in names, names not found); all items when names is empty."""
    if not names:
        return list(items), []
    wanted = set(names)
    chosen = [item for item in items if item["metadata"]["name"] in wanted]
    present = set(item["metadata"]["name"] for item in chosen)
    return chosen, sorted(wanted - present)


class _Lister(object):
    """Discovery and LIST results cached for the run: one request per kind and selector."""

    def __init__(self, api, namespace):
        self.api = api
        self.namespace = namespace
        self._types = {}
        self._lists = {}
        self.list_requests = 0

    def resource_type(self, api_version, kind):
        key = (api_version, kind)
        if key not in self._types:
            self._types[key] = self.api.resource_type(api_version, kind)
        return self._types[key]

    def items(self, rtype, label_selector=None):
        key = (rtype.api_version, rtype.kind, label_selector or "")
        if key not in self._lists:
            self.list_requests += 1
            self._lists[key] = self.api.list_items(rtype, self.namespace, label_selector=label_selector)
        return self._lists[key]


def _selector(spec):
    selectors = spec.get("label_selectors") or []
    return ",".join(s.strip() for s in selectors if s and s.strip()) or None


def collect_objects(api, namespace, selections):
    """The objects to export, in selection order, and the kinds skipped as optional.

    Referenced objects (e.g. the Secrets a custom resource names in its spec)
    follow the objects that name them.
    """
    lister = _Lister(api, namespace)
    objects = []
    skipped = []
    seen = set()

    def add(items):
        for item in sorted(items, key=lambda i: i["metadata"]["name"]):
            key = (item.get("apiVersion"), item.get("kind"), item["metadata"]["name"])
            if key not in seen:
                seen.add(key)
                objects.append(item)

    def fetch(spec, names, selector):
        try:
            rtype = lister.resource_type(spec["api_version"], spec["kind"])
        except KindNotServed as exc:
            if spec.get("optional"):
                skipped.append({"api_version": spec["api_version"], "kind": spec["kind"], "reason": exc.message})
                return None
            raise
        chosen, missing = select_by_name(lister.items(rtype, selector), names)
        if missing and spec.get("optional"):
            skipped.append({"api_version": spec["api_version"], "kind": rtype.kind,
                            "reason": "not found: {0}".format(", ".join(missing))})
        elif missing:
            raise ObjectNotFound(
                "{0} {1} not found{2}".format(
                    rtype.kind, ", ".join(missing), " with labels {0}".format(selector) if selector else ""),
                namespace=namespace, kind=rtype.kind,
            )
        return chosen

    for spec in selections:
        chosen = fetch(spec, spec.get("names"), _selector(spec))
        if chosen is None:
            continue
        add(chosen)
        for ref in spec.get("references") or []:
            try:
                names = sorted(set(
                    name for item in chosen
                    for name in manifest.referenced_names(item, ref.get("paths"), ref.get("field_names"))
                ))
            except ValueError as exc:
                raise InvalidInput("bad reference path: {0}".format(exc), namespace=namespace, kind=spec["kind"]) from exc
            if names:
                referenced = fetch(ref, names, None)
                if referenced:
                    add(referenced)
    return objects, skipped, lister.list_requests


def render_objects(objects, strip_owner_references, strip_namespace, extra_paths):
    """(relpath, stripped object, bytes, is_secret) per object; refuses two objects on one path."""
    rendered = []
    paths = {}
    for obj in objects:
        clean = manifest.strip_object(obj, strip_owner_references, strip_namespace, extra_paths)
        name = obj["metadata"]["name"]
        try:
            relpath = manifest.object_relpath(obj["kind"], name)
        except ValueError as exc:
            raise InvalidInput(str(exc), kind=obj.get("kind"), name=name) from exc
        identity = "{0} {1}".format(obj.get("apiVersion"), obj.get("kind"))
        if relpath in paths and paths[relpath] != identity:
            raise InvalidInput(
                "{0} and {1} would both be written to {2}".format(paths[relpath], identity, relpath), name=name)
        paths[relpath] = identity
        rendered.append((relpath, clean, manifest_yaml.render_yaml(clean), manifest.is_secret(clean)))
    return rendered


def stale_files(dest, kind_dirs, keep):
    """YAML files under the exported kinds' directories that this run did not produce."""
    stale = []
    for kind_dir in sorted(kind_dirs):
        directory = os.path.join(dest, kind_dir)
        if not os.path.isdir(directory):
            continue
        for entry in sorted(os.listdir(directory)):
            relpath = "{0}/{1}".format(kind_dir, entry)
            if entry.endswith(".yaml") and relpath not in keep and os.path.isfile(os.path.join(directory, entry)):
                stale.append(relpath)
    return stale


def stale_exports(found, exported, kinds, root):
    """The files under `root` that a run's several exports into it did not write: objects deleted since.

    A profile may export the same kind from several components (a database's Service and the application's
    Service, each with its own selector) into one tree; pruning after each export would delete what the
    one before it wrote. So each export keeps its files, and this runs once after all of them. `found` is
    every file under `root` (paths), `exported` every path the exports returned, `kinds` the kinds the
    profile exports: only `<root>/<Kind>/<name>.yaml` of those kinds can be stale, whether or not an object
    of that kind was found this run. Paths are compared relative to `root`, so a trailing slash or a `.`
    in one spelling of it cannot make a fresh file look stale.
    """
    root = os.path.normpath(root)

    def relative(path):
        rel = os.path.relpath(os.path.normpath(path), root)
        return None if rel.startswith(os.pardir) else rel

    kinds = set(kinds)
    kept = set(relative(path) for path in exported)
    stale = []
    for path in found:
        rel = relative(path)
        if rel is None or rel in kept or not rel.endswith(".yaml"):
            continue
        parts = rel.split(os.sep)
        if len(parts) == 2 and parts[0] in kinds:
            stale.append(os.path.join(root, rel))
    return sorted(stale)


def _wait_all(futures):
    """Wait for every write; then raise the first error, if any."""
    error = None
    for future in futures:
        try:
            future.result()
        except Exception as exc:  # pylint: disable=broad-except
            error = error or exc
    if error is not None:
        raise error


def _write_new_dir(pool, dest, kind_dir, files, dir_mode):
    """A kind directory that does not exist yet: fill a hidden one beside it, fsync, rename it in.

    One directory operation per file instead of two, and the kind appears whole
    or not at all.
    """
    temp = tempfile.mkdtemp(dir=dest, prefix=NEW_DIR_PREFIX)
    try:
        _wait_all([pool.submit(local_files.create_file, os.path.join(temp, os.path.basename(path)), data, mode)
                   for path, data, mode in files])
        os.chmod(temp, dir_mode)
        local_files.fsync_dir(temp)
        os.rename(temp, kind_dir)
    except BaseException:
        shutil.rmtree(temp, ignore_errors=True)
        raise


def _write(dest, writes):
    """writes: {kind_dir: (secret, [(path, data, mode)])}. Returns the directories to fsync."""
    local_files.ensure_dir(dest, DEST_MODE)
    synced = set([dest])
    with ThreadPoolExecutor(max_workers=WRITER_THREADS) as pool:
        for kind_dir in sorted(writes):
            secret, files = writes[kind_dir]
            dir_mode = SECRET_DIR_MODE if secret else DIR_MODE
            if not os.path.lexists(kind_dir):
                _write_new_dir(pool, dest, kind_dir, files, dir_mode)
                continue
            local_files.ensure_dir(kind_dir, dir_mode)
            if secret and local_files.file_mode(kind_dir) != SECRET_DIR_MODE:
                os.chmod(kind_dir, SECRET_DIR_MODE)
            _wait_all([pool.submit(local_files.atomic_write, path, data, mode) for path, data, mode in files])
            synced.add(kind_dir)
    return synced


def write_files(dest, rendered, check_mode=False, want_diff=False, prune=False):
    """Compare each rendered file with what is on disk; write the ones that differ.

    Compute first, then write: a changed file is replaced atomically (temporary
    file + rename), a kind directory that does not exist yet is built beside
    and renamed in whole; the writes run on a small thread pool and the
    directories are fsynced once at the end, not per file.
    Returns the module result (without the API bookkeeping).
    """
    results, diffs = [], []
    changed_any = False
    kind_dirs = set()
    writes = {}
    for relpath, obj, data, secret in rendered:
        kind_dirs.add(relpath.split("/", 1)[0])
        path = os.path.join(dest, relpath)
        mode = SECRET_FILE_MODE if secret else FILE_MODE
        old, old_mode = local_files.read_state(path)
        changed = old != data or old_mode != mode
        if changed:
            changed_any = True
            if want_diff and old != data:
                diffs.append(manifest.diff_entry(relpath, old, obj, data))
            kind = writes.setdefault(os.path.dirname(path), [False, []])
            kind[0] = kind[0] or secret
            kind[1].append((path, data, mode))
        # Kept small on purpose: Ansible scans every returned string for no_log values.
        results.append({
            "kind": obj.get("kind"),
            "name": obj["metadata"]["name"],
            "path": path,
            "size": len(data),
            "sha256": local_files.sha256_hex(data),
            "changed": changed,
        })
    if writes and not check_mode:
        for directory in sorted(_write(dest, writes)):
            local_files.fsync_dir(directory)
    removed = []
    if prune:
        keep = set(r[0] for r in rendered)
        for relpath in stale_files(dest, kind_dirs, keep):
            path = os.path.join(dest, relpath)
            removed.append(path)
            changed_any = True
            if want_diff:
                st = os.lstat(path)
                diffs.append(manifest.removal_diff_entry(relpath, stat.S_IMODE(st.st_mode) == SECRET_FILE_MODE))
            if not check_mode:
                os.unlink(path)
    result = {"changed": changed_any, "objects": results, "removed": removed}
    if want_diff:
        result["diff"] = diffs
    return result


def export(api, params, check_mode=False, want_diff=False):
    objects, skipped, list_requests = collect_objects(api, params["namespace"], params["resources"])
    rendered = render_objects(objects, params["strip_owner_references"], params["strip_namespace"],
                              params.get("strip_paths") or ())
    result = write_files(params["dest"], rendered, check_mode, want_diff, params.get("prune"))
    result["skipped_selections"] = skipped
    result["list_requests"] = list_requests
    return result
