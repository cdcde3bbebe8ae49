# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Encrypted offsite copies of a bup repository: the I/O (the object store, encryption with age, git).

run_push, run_pull and run_list are the operations behind statesafe.backup.bup_offsite; each takes the module's
parameters and returns its result, raising OffsiteError (or a BupError) on failure. What to upload, delete and
check is decided by the pure functions of plan.py; the objects are read and written through store.py.

Order of a push, so that a copy is always restorable: the new packs are uploaded first, then the index that
names them, and only then are packs no longer in the index deleted. A push reads the local repository and
writes nothing into it except the run lock's file (held so no save or gc changes packs while they are read).
A pull builds the repository in a temporary directory beside the target and renames it into place only once
every file is decrypted, checked against its sha256 and every ref's object is found.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import subprocess
import tempfile
import time

from ansible_collections.statesafe.backup.plugins.module_utils import local_files
from ansible_collections.statesafe.backup.plugins.module_utils.offsite import plan as plan_mod
from ansible_collections.statesafe.backup.plugins.module_utils.bup.repository import repository_from_params
from ansible_collections.statesafe.backup.plugins.module_utils.errors import adds_location
from ansible_collections.statesafe.backup.plugins.module_utils.offsite.plan import OffsiteError
from ansible_collections.statesafe.backup.plugins.module_utils.offsite.store import (
    CHUNK,
    Store,
)


# ---- age -----------------------------------------------------------------------------------------------------

def _age(argv, what, location):
    try:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:
        raise OffsiteError("cannot run {0} to {1}: {2}; install age (Debian: apt-get install age) or set "
                           "age_command".format(argv[0], what, exc), **location) from exc
    _out, err = process.communicate()
    if process.returncode != 0:
        text = err.decode("utf-8", "replace").strip().replace("\n", " ")
        raise OffsiteError("age could not {0}: {1}".format(what, text[-1500:] or "exit {0}".format(
            process.returncode)), **location)


def encrypt(age_command, recipients, source, target, location):
    argv = [age_command, "--encrypt", "--output", target]
    for recipient in recipients:
        argv += ["--recipient", recipient]
    _age(argv + [source], "encrypt {0}".format(os.path.basename(source)), location)


def decrypt(age_command, identity_file, source, target, location):
    _age([age_command, "--decrypt", "--identity", identity_file, "--output", target, source],
         "decrypt with identity file {0} (is it the identity of the recipients this copy was pushed to?)".format(
             identity_file), location)


# ---- the local repository ------------------------------------------------------------------------------------

def git_refs(git_command, repository):
    try:
        output = subprocess.check_output([git_command, "--git-dir=" + repository, "for-each-ref",
                                          "--format=%(objectname) %(refname)", "refs/"], stderr=subprocess.STDOUT)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise OffsiteError("cannot list the refs of the repository: {0}".format(
            getattr(exc, "output", b"").decode("utf-8", "replace").strip() or exc), repository=repository) from exc
    refs = {}
    for line in output.decode("utf-8").splitlines():
        sha, _sep, ref = line.partition(" ")
        if ref:
            refs[ref] = sha
    return refs


def local_pack_files(repository):
    """{name: {"size", "sha256", "path"}} of the data files in objects/pack."""
    pack_dir = os.path.join(repository, "objects", "pack")
    found = {}
    for name in sorted(os.listdir(pack_dir)):
        if plan_mod.is_pack_file(name):
            path = os.path.join(pack_dir, name)
            size, sha = local_files.file_sha256(path, CHUNK)
            found[name] = {"size": size, "sha256": sha, "path": path}
    return found


def _recipients(params):
    given = list(params.get("recipients") or [])
    if params.get("recipients_file"):
        try:
            with open(params["recipients_file"]) as handle:
                given.append(handle.read())
        except (IOError, OSError) as exc:
            raise OffsiteError("cannot read recipients_file: {0}".format(exc), path=params["recipients_file"]) from exc
    recipients = plan_mod.normalise_recipients(given)
    if not recipients:
        raise OffsiteError("refusing to push without encryption: set recipients (age public keys, age1...) or "
                           "recipients_file. Archives hold Secrets; nothing is sent in plain text")
    return recipients


# ---- operations ----------------------------------------------------------------------------------------------

@adds_location(OffsiteError, "repository", lambda repo, *args, **kwargs: repo.label)
def run_push(repo, params, check_mode=False):
    """Upload new packs, then the index, then delete packs gone locally. repo: a bup.Repository (local)."""
    recipients = _recipients(params)
    fingerprint = plan_mod.recipients_fingerprint(recipients)
    repo.require_local("push offsite")
    repo.ensure_exists()
    store = Store(params)
    start = time.time()
    with repo.lock("offsite push", params["lock_timeout"], params.get("lock_token")) as lock:
        remote = store.listing(create_bucket=params.get("create_bucket") and not check_mode)
        meta = store.metadata(plan_mod.INDEX_KEY) if plan_mod.INDEX_KEY in remote else {}
        files = local_pack_files(repo.path)
        index = plan_mod.build_index(git_refs("git", repo.path), files, fingerprint)
        plan = plan_mod.push_plan(index, remote, meta, params.get("allow_recipient_change", False))
        result = {"repository": repo.label, "bucket": store.bucket, "prefix": store.prefix,
                  "recipients_fingerprint": fingerprint, "uploaded": plan["upload"], "deleted": plan["delete"],
                  "index_uploaded": plan["upload_index"], "uploaded_bytes": 0, "plain_bytes": 0,
                  "changed": bool(plan["upload"] or plan["upload_index"] or plan["delete"]),
                  "lock_waited": round(lock.waited, 3), "refs": len(index["refs"]),
                  "summary": plan_mod.summarise_index(index)}
        if check_mode:
            result["seconds"] = round(time.time() - start, 3)
            return result
        work = tempfile.mkdtemp(prefix="statesafe-offsite-")
        try:
            for name in plan["upload"]:
                info = index["files"][name]
                encrypted = os.path.join(work, name + plan_mod.ENCRYPTED_SUFFIX)
                encrypt(params.get("age_command") or "age", recipients, files[name]["path"], encrypted,
                        store.where(info["key"]))
                result["uploaded_bytes"] += os.path.getsize(encrypted)
                result["plain_bytes"] += info["size"]
                store.upload(encrypted, info["key"], {plan_mod.META_RECIPIENTS: fingerprint})
                os.unlink(encrypted)
            if plan["upload_index"]:
                plain = os.path.join(work, "index.json")
                with open(plain, "wb") as handle:
                    handle.write(plan_mod.encode_index(index))
                encrypted = plain + plan_mod.ENCRYPTED_SUFFIX
                encrypt(params.get("age_command") or "age", recipients, plain, encrypted,
                        store.where(plan_mod.INDEX_KEY))
                result["uploaded_bytes"] += os.path.getsize(encrypted)
                store.upload(encrypted, plan_mod.INDEX_KEY, {
                    plan_mod.META_INDEX_SHA256: plan_mod.index_digest(index),
                    plan_mod.META_RECIPIENTS: fingerprint,
                    "statesafe-pushed-at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
            # Only now, with an index that no longer names them, may old packs go.
            if plan["delete"]:
                store.delete(plan["delete"])
        finally:
            shutil.rmtree(work, ignore_errors=True)
    after = dict(remote)
    for key in plan["delete"]:
        after.pop(key, None)
    result["remote_objects"] = len(set(after) | set(index["files"][n]["key"] for n in plan["upload"])
                                   | set([plan_mod.INDEX_KEY]))
    result["seconds"] = round(time.time() - start, 3)
    return result


def _read_index(store, params, work):
    if not params.get("identity_file"):
        raise OffsiteError("reading the offsite index needs identity_file (the age identity whose public key the "
                           "copy was pushed to)")
    if not os.path.isfile(params["identity_file"]):
        raise OffsiteError("identity_file does not exist or is not a file", path=params["identity_file"])
    encrypted = os.path.join(work, "index.json.age")
    store.download(plan_mod.INDEX_KEY, encrypted)
    plain = os.path.join(work, "index.json")
    decrypt(params.get("age_command") or "age", params["identity_file"], encrypted, plain,
            store.where(plan_mod.INDEX_KEY))
    with open(plain, "rb") as handle:
        return plan_mod.parse_index(handle.read())


def run_list(params):
    """Objects under the prefix; with identity_file also what the index says (branches, markers, packs)."""
    store = Store(params)
    remote = store.listing()
    result = {"bucket": store.bucket, "prefix": store.prefix, "changed": False, "objects": len(remote),
              "bytes": sum(remote.values()), "exists": plan_mod.INDEX_KEY in remote, "index": None}
    if not result["exists"]:
        return result
    meta = store.metadata(plan_mod.INDEX_KEY)
    result["pushed_at"] = meta.get("statesafe-pushed-at")
    result["recipients_fingerprint"] = meta.get(plan_mod.META_RECIPIENTS)
    if params.get("identity_file"):
        work = tempfile.mkdtemp(prefix="statesafe-offsite-")
        try:
            index = _read_index(store, params, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        result["index"] = plan_mod.summarise_index(index)
        result["missing"] = plan_mod.missing_objects(index, remote)
    return result


def _fresh_target(target):
    if local_files.fresh_directory_problem(target):
        raise OffsiteError("the pull target exists and is not an empty directory; pull into a new directory",
                           repository=target)


@adds_location(OffsiteError, "repository", lambda params, *args, **kwargs: params.get("repository"))
def run_pull(params, check_mode=False):
    """Rebuild a bup repository at params["repository"] from the offsite copy, verified, or leave nothing."""
    target = os.path.abspath(os.path.expanduser(params["repository"]))
    _fresh_target(target)
    store = Store(params)
    remote = store.listing()
    if plan_mod.INDEX_KEY not in remote:
        raise OffsiteError("there is no offsite copy here: no {0} under the prefix".format(plan_mod.INDEX_KEY),
                           **store.where(plan_mod.INDEX_KEY))
    parent = os.path.dirname(target)
    if not os.path.isdir(parent) and not check_mode:
        os.makedirs(parent, 0o700)
    start = time.time()
    # Beside the target, so the finished repository is renamed into place on the same filesystem.
    work = tempfile.mkdtemp(prefix=".statesafe-pull-", dir=None if check_mode else parent)
    try:
        index = _read_index(store, params, work)
        missing = plan_mod.missing_objects(index, remote)
        if missing:
            raise OffsiteError("the offsite copy is incomplete: {0} objects named by its index are missing ({1})"
                               .format(len(missing), ", ".join(missing[:5])), **store.where())
        plan = plan_mod.pull_plan(index)
        result = {"repository": target, "bucket": store.bucket, "prefix": store.prefix, "changed": True,
                  "downloaded": plan["download"], "downloaded_bytes": 0, "refs": len(plan["refs"]),
                  "summary": plan_mod.summarise_index(index)}
        if check_mode:
            result["downloaded_bytes"] = sum(remote[index["files"][n]["key"]] for n in plan["download"])
            return result
        building = os.path.join(work, "repository")
        _init_repository(params, building)
        pack_dir = os.path.join(building, "objects", "pack")
        for name in plan["download"]:
            info = index["files"][name]
            encrypted = os.path.join(work, "download.age")
            store.download(info["key"], encrypted)
            result["downloaded_bytes"] += os.path.getsize(encrypted)
            path = os.path.join(pack_dir, name)
            decrypt(params.get("age_command") or "age", params["identity_file"], encrypted, path,
                    store.where(info["key"]))
            os.unlink(encrypted)
            problem = plan_mod.check_download(name, info, *local_files.file_sha256(path, CHUNK))
            if problem:
                raise OffsiteError("verification failed, the offsite copy is damaged or was tampered with: " +
                                   problem, **store.where(info["key"]))
            os.chmod(path, 0o444)
        _write_refs(building, plan["refs"])
        if os.path.isdir(target):
            os.rmdir(target)  # empty, checked above
        os.rename(building, target)
        result["seconds"] = round(time.time() - start, 3)
        return result
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _run(argv, what, env=None, input_data=None):
    try:
        process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   env=env)
    except OSError as exc:
        raise OffsiteError("cannot run {0} for {1}: {2}".format(argv[0], what, exc)) from exc
    out, err = process.communicate(input_data)
    if process.returncode != 0:
        text = err.decode("utf-8", "replace").strip()[-1000:]
        raise OffsiteError("{0} failed: {1} exited {2}: {3}".format(what, " ".join(argv[:3]), process.returncode, text))
    return out


def _init_repository(params, path):
    env = dict(os.environ, BUP_DIR=path, LC_ALL="C.UTF-8")
    _run([params.get("bup_command") or "bup", "init"], "bup init of the pulled repository", env=env)


def _write_refs(path, refs):
    """Every ref of the index, after checking each names an object the downloaded packs hold."""
    shas = sorted(set(sha for _ref, sha in refs))
    batch = _run(["git", "--git-dir=" + path, "cat-file", "--batch-check"], "checking the refs' objects",
                 input_data="".join(s + "\n" for s in shas).encode("ascii")).decode("utf-8")
    absent = [line.split()[0] for line in batch.splitlines() if line.endswith(" missing")]
    if absent:
        raise OffsiteError("the downloaded packs do not hold the objects of {0} refs ({1}): the copy is "
                           "incomplete".format(len(absent), ", ".join(absent[:5])))
    commands = "".join("create {0} {1}\n".format(ref, sha) for ref, sha in refs)
    _run(["git", "--git-dir=" + path, "update-ref", "--stdin"], "writing the refs",
         input_data=commands.encode("utf-8"))


def run_operation(params, check_mode=False):
    """The module's operation (push, pull or list) on its parameters."""
    operation = params.get("operation") or "push"
    if params.get("remote"):
        raise OffsiteError("bup_offsite works on a repository on this host; remote (bup -r) is not supported",
                           repository=params["remote"])
    if operation != "list" and not params.get("repository"):
        raise OffsiteError("operation={0} needs repository (a local path)".format(operation))
    if operation == "push":
        return run_push(repository_from_params(params), params, check_mode)
    if operation == "pull":
        return run_pull(params, check_mode)
    return run_list(params)
