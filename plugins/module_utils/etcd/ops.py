# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The I/O of the etcd modules: etcdctl and etcdutl processes, the snapshot file, the data directory swap.

Every process gets paths to the client certificates, never their content; nothing here reads a key.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import os
import shutil
import subprocess
import time

from ansible_collections.statesafe.backup.plugins.module_utils.bup import parse as bup_parse
from ansible_collections.statesafe.backup.plugins.module_utils.capture.tree_checksums import tree_checksums
from ansible_collections.statesafe.backup.plugins.module_utils.errors import ExecFailed, ExecTimeout, InvalidInput
from ansible_collections.statesafe.backup.plugins.module_utils.etcd import decision, plan, snapshot
from ansible_collections.statesafe.backup.plugins.module_utils.local_files import fsync_dir, read_bytes


def run(argv, timeout, what):
    """stdout of argv; raises ExecFailed (rc, stderr) or ExecTimeout naming what ran."""
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise ExecTimeout("{0} did not finish within {1}s".format(what, timeout), rc=None,
                          stderr=(exc.stderr or b"").decode("utf-8", "replace")[-2000:]) from exc
    except OSError as exc:
        raise ExecFailed("{0} could not be started: {1}".format(what, exc), path=argv[0]) from exc
    stderr = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise ExecFailed("{0} exited {1}: {2}".format(what, proc.returncode, stderr.strip()[-1000:] or "no stderr"),
                         rc=proc.returncode, stderr=stderr[-2000:])
    return proc.stdout.decode("utf-8", "replace")


def client(params, *args):
    return snapshot.etcdctl_argv(params["etcdctl"], params["endpoints"], params.get("cacert"), params.get("cert"),
                                 params.get("key"), params["timeout"], *args)


def current_revision(params):
    """{revision, endpoints} of the cluster, from etcdctl endpoint status with the client certificates."""
    text = run(client(params, "endpoint", "status", "-w", "json"), params["timeout"], "etcdctl endpoint status")
    try:
        endpoints = snapshot.parse_endpoint_status(text)
    except ValueError as exc:
        raise ExecFailed(str(exc)) from exc
    return {"revision": snapshot.cluster_revision(endpoints), "endpoints": endpoints}


def file_sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(snapshot.CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify(path, etcdutl, timeout):
    """{hash, revision, total_keys, total_size, version, size, sha256} of a checked snapshot file.

    Raises SnapshotCorrupt when the integrity trailer or etcdutl snapshot status refuses it.
    """
    size = os.path.getsize(path)
    with open(path, "rb") as stream:
        head, trailer = snapshot.read_trailer(stream, size)
    problem = snapshot.trailer_problem(size, head, trailer)
    if problem:
        raise snapshot.SnapshotCorrupt("snapshot refused: {0}".format(problem), path=path)
    try:
        text = run([etcdutl, "snapshot", "status", path, "-w", "json"], timeout, "etcdutl snapshot status")
        status = snapshot.parse_status(text)
    except (ExecFailed, ValueError) as exc:
        raise snapshot.SnapshotCorrupt("snapshot refused: {0}".format(exc), path=path) from exc
    status.update(size=size, sha256=file_sha256(path))
    return status


def collect_files(paths, dest, timeout):
    """A fresh copy of the absolute paths under dest (dest/<path>), owners, modes and times kept: their checksums.

    cp -a --parents runs from / with the paths relative to it (GNU cp resolves the parent directories it copies
    against the working directory). It prints nothing of the files. Returns {files: [{path (relative to dest),
    size, sha256}], digest, bytes}.
    """
    relative = [plan.relative_to_root(path) for path in paths]
    if os.path.lexists(dest):
        shutil.rmtree(dest)
    os.makedirs(dest, 0o700)
    if relative:
        try:
            proc = subprocess.run(["cp", "-a", "--parents"] + relative + [dest.rstrip("/") + "/"], cwd="/",
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout, check=False)
        except subprocess.TimeoutExpired as exc:
            raise ExecTimeout("copying {0} did not finish within {1}s".format(", ".join(paths), timeout),
                              path=dest) from exc
        if proc.returncode != 0:
            stderr = proc.stderr.decode("utf-8", "replace")
            raise ExecFailed("copying the saved paths failed: {0}".format(stderr.strip()[-1000:]),
                             rc=proc.returncode, stderr=stderr[-2000:], path=dest)
    found = tree_checksums(dest, [])
    files = [{"path": os.path.relpath(entry["path"], dest), "size": entry["size"], "sha256": entry["checksum"]}
             for entry in found["files"]]
    return {"files": files, "digest": decision.files_digest(files), "bytes": found["bytes"]}


def put_back(paths, source, timeout):
    """cp -a each saved path from source/<path> over <path> (owners and modes as saved): the paths put back."""
    done = []
    for path in paths:
        saved = os.path.join(source, plan.relative_to_root(path))
        if not os.path.lexists(saved):
            raise InvalidInput("the archive holds no {0} (looked for {1})".format(path, saved), path=path)
        run(["cp", "-a", "--no-target-directory", saved, path], timeout, "cp -a {0}".format(path))
        done.append(path)
    return done


def save(params):
    """Take a snapshot into params['path'] (written beside it, checked, then renamed): its status."""
    target = params["path"]
    partial = target + ".part"
    if not os.path.isdir(os.path.dirname(target)):
        os.makedirs(os.path.dirname(target), 0o700)
    if os.path.exists(partial):
        os.unlink(partial)
    try:
        run(client(params, "snapshot", "save", partial), params["timeout"], "etcdctl snapshot save")
        status = verify(partial, params["etcdutl"], params["timeout"])
        os.chmod(partial, 0o600)
        os.rename(partial, target)
        fsync_dir(os.path.dirname(target) or ".")
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return status


def read_state(path):
    """The recorded state of the last complete archive; {} when there is none or it is not JSON (the run saves)."""
    data = read_bytes(path)
    if data is None:
        return {}
    try:
        state = json.loads(data.decode("utf-8"))
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


def marker_present(repository, branch, commit):
    """Whether a local repository still holds the completeness marker of branch/commit (loose or packed)."""
    ref = bup_parse.marker_ref(branch, commit)
    if os.path.isfile(os.path.join(repository, ref)):
        return True
    packed = os.path.join(repository, "packed-refs")
    if os.path.isfile(packed):
        with open(packed) as stream:
            return any(line.split()[-1:] == [ref] for line in stream if not line.startswith(("#", "^")))
    return False


def restore(params, now=None):
    """Restore the checked snapshot into a new directory, then swap it in, keeping the old data directory.

    Nothing is renamed until etcdutl succeeded: a failure before (or a kill) leaves the data directory as it was
    and removes the half-written new directory.
    """
    data_dir = params["data_dir"].rstrip("/")
    new_dir, kept_dir = plan.swap_paths(data_dir, now if now is not None else time.time())
    for path in (new_dir, kept_dir):
        if os.path.lexists(path):
            raise InvalidInput("{0} exists already (a restore in the same second?)".format(path), path=path)
    status = verify(params["path"], params["etcdutl"], params["timeout"])
    argv = snapshot.restore_argv(params["etcdutl"], params["path"], new_dir, params["name"],
                                 params["initial_cluster"], params["initial_advertise_peer_urls"],
                                 params["initial_cluster_token"], params["bump_revision"])
    try:
        run(argv, params["timeout"], "etcdutl snapshot restore")
    except Exception:
        shutil.rmtree(new_dir, ignore_errors=True)
        raise
    previous = None
    if os.path.lexists(data_dir):
        os.rename(data_dir, kept_dir)
        previous = kept_dir
    os.rename(new_dir, data_dir)
    fsync_dir(os.path.dirname(data_dir) or "/")
    return {"status": status, "data_dir": data_dir, "previous_data_dir": previous}
