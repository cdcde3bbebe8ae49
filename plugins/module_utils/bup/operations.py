# -*- coding: utf-8 -*-
# Copyright: statesafe.backup contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the bup modules do with a repository: init, save, list, restore, retention, fsck, the run lock.

Each run_* takes a Repository (local or remote, from repository_from_params)
and the module's parameters, and returns the module's result.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import os
import shutil
import tempfile
import time

from ansible_collections.statesafe.backup.plugins.module_utils import local_files
from ansible_collections.statesafe.backup.plugins.module_utils.bup import archives as archives_mod
from ansible_collections.statesafe.backup.plugins.module_utils.bup import parse
from ansible_collections.statesafe.backup.plugins.module_utils.bup import validate as validate_mod
from ansible_collections.statesafe.backup.plugins.module_utils.errors import adds_location
from ansible_collections.statesafe.backup.plugins.module_utils.bup.errors import (
    ArchiveNotFound,
    BadInput,
    BupCommandFailed,
    BupError,
)
from ansible_collections.statesafe.backup.plugins.module_utils.bup.runner import (
    describe_rc,
)


# Every error an operation raises names the repository, even those of the pure layers.
names_repository = adds_location(BupError, "repository", lambda repo, *args, **kwargs: repo.label)


@names_repository
def run_init(repo, params, check_mode=False):
    if repo.exists():
        return {"changed": False, "repository": repo.label, "created": False}
    created = True
    if not check_mode:
        created = repo.init() is not False  # False: a run beside this one made it first
        repo.ensure_exists()
    return {"changed": created, "repository": repo.label, "created": created}


def _validate_branch(branch):
    if not parse.valid_branch_name(branch):
        raise BadInput("branch {0!r} is not a plain name (letters, digits, '.', '_', '-')".format(branch),
                       branch=branch)


def _staging_root(staging):
    root = os.path.realpath(os.path.expanduser(staging))
    if not os.path.isdir(root):
        raise BadInput("the staging tree is not a directory", path=staging)
    if root == "/":
        raise BadInput("refusing to save / as a staging tree", path=staging)
    return root


def _read_manifest(root, manifest):
    """(artifacts, manifest path inside the staging tree or None)."""
    path = manifest if os.path.isabs(manifest) else os.path.join(root, manifest)
    path = os.path.realpath(path)
    data, artifacts = validate_mod.read_manifest(path, "cannot read the manifest")
    inside = None
    if path.startswith(root + os.sep):
        inside = os.path.relpath(path, root).replace(os.sep, "/")
        artifacts = [a for a in artifacts if a["path"] != inside]
        artifacts.append({"path": inside, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    return artifacts, inside


def validate_commit(repo, branch, commit, artifacts, level):
    """A validation report of commit against the manifest's artifacts."""
    files, digests = repo.archive_files(commit, [a["path"] for a in artifacts], level == "sha256", branch=branch)
    return validate_mod.compare(artifacts, files, digests)


@names_repository
def run_save(repo, params):
    """bup index + bup save, then validate the new commit and mark it complete.

    Completeness never follows from bup's exit code alone: bup commits a save
    that skipped unreadable files and exits 1, and a clean exit does not
    prove the manifest's files are all in the commit. The marker is written
    only when index and save exited 0 and validation passed.
    """
    branch = params["branch"]
    _validate_branch(branch)
    root = _staging_root(params["staging"])
    artifacts, manifest_inside = (None, None)
    if params.get("manifest"):
        artifacts, manifest_inside = _read_manifest(root, params["manifest"])
    repo.ensure_exists()
    repo.ensure_local_cache()
    with repo.lock("save branch={0}".format(branch), params["lock_timeout"], params.get("lock_token")) as lock:
        heads, _markers = repo.refs()
        previous = heads.get(branch)
        previous_tree = repo.commit_record(previous)["tree"] if previous else None
        bytes_before = repo.repository_bytes()
        started = time.time()
        indexed = repo.index(root, params.get("index_file"))
        if indexed.rc not in (0, 1):
            raise BupCommandFailed("bup index of the staging tree failed, exit {0}: {1}".format(
                describe_rc(indexed.rc), indexed.stderr_text(1000)), argv=indexed.argv, rc=indexed.rc,
                stderr=indexed.stderr_text(), **repo.where(branch=branch, path=root))
        saved = repo.save(branch, root, params.get("date"), params.get("index_file"), params.get("compression"))
        seconds = time.time() - started
        heads, _markers = repo.refs()
        commit = heads.get(branch)
        problems = parse.error_lines(indexed.stderr) + parse.error_lines(saved.stderr)
        result = {
            "repository": repo.label, "branch": branch, "staging": root, "previous_commit": previous,
            "index_rc": indexed.rc, "save_rc": saved.rc, "bup_errors": problems, "seconds": round(seconds, 3),
            "lock_waited": round(lock.waited, 3),
        }
        if commit == previous:
            raise BupCommandFailed("bup save made no commit: it exited {0}: {1}".format(
                describe_rc(saved.rc), saved.stderr_text(1000) or "(no output)"), argv=saved.argv, rc=saved.rc,
                stderr=saved.stderr_text(), **repo.where(branch=branch, path=root))
        record = repo.commit_record(commit)
        bytes_after = repo.repository_bytes()
        result.update({
            "commit": commit, "tree": record["tree"] if record else None,
            "tree_unchanged": bool(record and record["tree"] == previous_tree),
            "timestamp": record["time"] if record else None,
            "repository_bytes": bytes_after,
            "bytes_added": bytes_after - bytes_before if bytes_after is not None else None,
            "changed": True,
        })
        reasons = []
        if indexed.rc != 0:
            reasons.append("bup index exited {0}".format(indexed.rc))
        if saved.rc != 0:
            reasons.append("bup save exited {0}".format(describe_rc(saved.rc)))
        report = None
        if artifacts is not None:
            report = validate_commit(repo, branch, commit, artifacts, params.get("validate") or "size")
            if not report["ok"]:
                reasons.append("validation failed: " + validate_mod.summarize(report))
        else:
            reasons.append("no manifest given, so nothing to validate against")
        result["validation"] = report
        result["manifest_in_archive"] = manifest_inside
        result["complete"] = not reasons
        result["marker"] = repo.mark(branch, commit) if not reasons and params.get("mark", True) else None
        result["incomplete_reasons"] = reasons
        return result


def _branches(params, heads):
    wanted = params.get("branches") or ([params["branch"]] if params.get("branch") else sorted(heads))
    for branch in wanted:
        _validate_branch(branch)
    return wanted


@names_repository
def run_list(repo, params):
    repo.ensure_exists()
    heads, markers = repo.refs()
    branches = _branches(params, heads)
    listed = []
    stale_count = 0
    for branch in branches:
        found, moves, stale = repo.archives(branch, heads, markers)
        stale_count += len(stale)
        listed.extend(found)
    if params.get("sizes", True):
        repo.archive_sizes(listed)
    result = {"changed": False, "repository": repo.label, "archives": listed, "stale_markers": stale_count,
              "selected": None}
    if params.get("archive"):
        if len(branches) != 1:
            raise BadInput("archive selection needs exactly one branch", repository=repo.label)
        own = [a for a in listed if a["branch"] == branches[0]]
        result["selected"] = archives_mod.select_archive(own, params["archive"], params.get("allow_incomplete"))
    return result


def _fresh_target(target):
    target = os.path.abspath(os.path.expanduser(target))
    problem = local_files.fresh_directory_problem(target)
    if problem == local_files.NOT_A_DIRECTORY:
        raise BadInput("the restore target exists and is not a directory", path=target)
    if problem == local_files.NOT_EMPTY:
        raise BadInput("the restore target is not empty; restore needs a fresh directory so nothing of "
                       "another archive is mixed in", path=target)
    parent = os.path.dirname(target)
    if not os.path.isdir(parent):
        raise BadInput("the parent of the restore target does not exist", path=target)
    return target


def _verify_restored(root, manifest):
    _data, artifacts = validate_mod.read_manifest(os.path.join(root, manifest),
                                                  "the restored archive has no readable manifest",
                                                  error=BupError, source=manifest)
    files, digests = {}, {}
    for artifact in artifacts:
        local = os.path.join(root, artifact["path"])
        if not os.path.isfile(local) or os.path.islink(local):
            continue
        size, digests[artifact["path"]] = local_files.file_sha256(local)
        files[artifact["path"]] = {"size": size, "kind": "file"}
    return validate_mod.compare(artifacts, files, digests)


@names_repository
def run_restore(repo, params, check_mode=False):
    branch = params["branch"]
    _validate_branch(branch)
    target = _fresh_target(params["target"])
    repo.ensure_exists()
    heads, markers = repo.refs()
    found, _moves, _stale = repo.archives(branch, heads, markers)
    if not found:
        raise ArchiveNotFound("the branch has no archives", **repo.where(branch=branch))
    archive = archives_mod.select_archive(found, params.get("archive") or "latest", params.get("allow_incomplete"))
    result = {"repository": repo.label, "branch": branch, "archive": archive, "target": target,
              "changed": True, "verification": None}
    if check_mode:
        return result
    with repo.lock("restore branch={0}".format(branch), params["lock_timeout"], params.get("lock_token")) as lock:
        result["lock_waited"] = round(lock.waited, 3)
        _restore_into(repo, branch, archive, target, params, result)
    return result


def _restore_into(repo, branch, archive, target, params, result):
    names = repo.save_names(branch)
    name = names.get(archive["commit"])
    if name is None:
        raise ArchiveNotFound("bup ls does not list the selected commit",
                              **repo.where(branch=branch, commit=archive["commit"]))
    # Restore next to the target and move it into place only once complete (and verified), so the
    # target never holds a partial tree.
    scratch = tempfile.mkdtemp(prefix=".{0}.restoring-".format(os.path.basename(target)),
                               dir=os.path.dirname(target))
    try:
        args = ["restore"] + repo.remote_args() + ["-q", "-C", scratch]
        if params.get("numeric_ids"):
            args.append("--numeric-ids")
        repo.bup(args + ["/{0}/{1}/.".format(branch, name)], "bup restore", branch=branch, commit=archive["commit"])
        if params.get("verify_manifest"):
            report = _verify_restored(scratch, params["verify_manifest"])
            result["verification"] = report
            if not report["ok"]:
                raise BupError("the restored tree does not match its manifest: " + validate_mod.summarize(report),
                               **repo.where(branch=branch, commit=archive["commit"]))
        if os.path.isdir(target):
            os.rmdir(target)  # empty, checked above
        os.rename(scratch, target)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


@names_repository
def run_retention(repo, params, check_mode=False):
    repo.require_local("prune")
    policy = archives_mod.retention_policy(params.get("keep_all_for"), params.get("keep_dailies_for"),
                                           params.get("keep_weeklies_for"), params.get("keep_monthlies_for"),
                                           params.get("keep_yearlies_for"))
    repo.ensure_exists()
    now = params.get("wrt") or int(time.time())
    with repo.lock("retention", params["lock_timeout"], params.get("lock_token")) as lock:
        heads, markers = repo.refs()
        branches = _branches(params, heads)
        result = {"repository": repo.label, "removed": [], "kept": [], "markers_moved": 0, "markers_deleted": 0,
                  "rewritten": {}, "gc": False, "changed": False, "lock_waited": round(lock.waited, 3)}
        bytes_before = repo.repository_bytes()
        for branch in branches:
            found, moves, stale = repo.archives(branch, heads, markers)
            plan = archives_mod.retention_plan(found, policy, now, params.get("keep_incomplete", False))
            for archive, keep, reason in plan:
                entry = dict(archive, reason=reason)
                (result["kept"] if keep else result["removed"]).append(entry)
            if check_mode:
                result["changed"] = result["changed"] or bool(moves or stale or
                                                              any(not keep for _a, keep, _r in plan))
                continue
            _apply_markers(repo, moves, stale, result)
            doomed = [a for a, keep, _r in plan if not keep]
            if doomed:
                _remove(repo, branch, doomed, [a for a, keep, _r in plan if keep])
                result["changed"] = True
            # bup rm rewrote every commit after the first removed one: move their markers, drop the rest.
            heads, markers = repo.refs()
            _found, moves, stale = repo.archives(branch, heads, markers)
            _apply_markers(repo, moves, stale, result)
        stale = repo.stale_temporaries(time.time())
        result["stale_temporaries"] = stale
        if stale and not check_mode:
            for entry in stale:
                shutil.rmtree(entry["path"])
        result["changed"] = result["changed"] or bool(result["markers_moved"] or result["markers_deleted"] or stale)
        if params.get("gc", True) and result["removed"] and not check_mode:
            repo.gc(params.get("gc_threshold"))
            result["gc"] = True
        bytes_after = repo.repository_bytes()
        result["repository_bytes"] = bytes_after
        result["bytes_freed"] = bytes_before - bytes_after
        return result


def _apply_markers(repo, moves, stale, result):
    for marker, new_commit in moves:
        repo.move_marker(marker, new_commit)
        result["markers_moved"] += 1
        result["rewritten"][marker["commit"]] = new_commit
    for marker in stale:
        repo.delete_marker(marker)
        result["markers_deleted"] += 1


def _remove(repo, branch, doomed, kept):
    names = repo.save_names(branch)
    missing = [a["commit"] for a in doomed if a["commit"] not in names]
    if missing:
        raise BupError("bup ls does not list commits the plan removes: {0}".format(", ".join(missing)),
                       **repo.where(branch=branch))
    repo.rm(branch, [names[a["commit"]] for a in doomed])
    # Every kept archive must still be there, rewritten maybe: same tree, same time.
    heads, _markers = repo.refs()
    after = repo.history([heads[branch]]) if heads.get(branch) else []
    present = set((c["tree"], c["time"]) for c in after)
    lost = [a["commit"] for a in kept if (a["tree"], a["timestamp"]) not in present]
    if lost or len(after) != len(kept):
        raise BupError("after bup rm the branch holds {0} saves, expected {1}; lost: {2}".format(
            len(after), len(kept), ", ".join(lost) or "none"), **repo.where(branch=branch))


@names_repository
def run_fsck(repo, params, check_mode=False):
    repo.require_local("fsck")
    repo.ensure_exists()
    generate = params.get("par2_generate") and not check_mode
    repair = params.get("repair") and not check_mode
    if params.get("par2_generate") or params.get("repair"):
        have_par2 = repo.runner.run(repo.runner.bup_argv(["fsck", "--par2-ok"])).rc == 0
        if not have_par2:
            raise BupError("par2 is not installed, so bup fsck can neither generate recovery data nor repair",
                           repository=repo.label)
    args = ["fsck", "-v"]
    if generate:
        args.append("-g")
    if repair:
        args.append("-r")
    if params.get("quick"):
        args.append("--quick")
    if params.get("jobs"):
        args += ["-j", str(params["jobs"])]
    with repo.lock("fsck", params["lock_timeout"], params.get("lock_token")) as lock:
        result = repo.runner.run(repo.runner.bup_argv(args))
    packs = parse.parse_fsck_verbose(result.stdout)
    damaged = sorted(p for p, s in packs.items() if s == "failed")
    repaired = sorted(p for p, s in packs.items() if s == "repaired")
    generated = sorted(p for p, s in packs.items() if s == "generated")
    ok = result.rc in (0, 100) and not damaged
    if result.rc not in (0, 1, 100):
        raise BupCommandFailed("bup fsck failed, exit {0}: {1}".format(describe_rc(result.rc),
                                                                       result.stderr_text(1000)),
                               argv=result.argv, rc=result.rc, stderr=result.stderr_text(), repository=repo.label)
    return {"repository": repo.label, "ok": ok, "fsck_rc": result.rc, "packs": packs, "damaged": damaged,
            "repaired": repaired, "par2_generated": generated, "changed": bool(repaired or generated),
            "messages": parse.error_lines(result.stderr), "lock_waited": round(lock.waited, 3),
            "stale_temporaries": repo.stale_temporaries(time.time())}


@names_repository
def run_lock(repo, params):
    repo.ensure_exists()
    state = params["state"]
    forcing = state == "released" and params.get("force", False)
    with repo.lock("run lease ({0})".format(state), params["lock_timeout"], params.get("lock_token"),
                   honour_lease=not forcing) as lock:
        if state == "acquired":
            current = lock.lease()
            renewing = bool(current and current.get("token") == params.get("lock_token"))
            lease = lock.take_lease(params.get("owner") or "ansible", params["ttl"], params.get("lock_token"))
            return {"changed": not renewing, "repository": repo.label, "token": lease["token"], "lease": lease,
                    "lock_waited": round(lock.waited, 3)}
        dropped = lock.drop_lease(params.get("lock_token"), force=params.get("force", False))
        return {"changed": dropped is not None, "repository": repo.label, "token": params.get("lock_token"),
                "lease": dropped, "lock_waited": round(lock.waited, 3)}
