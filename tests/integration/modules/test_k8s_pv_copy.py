"""k8s_pv_copy against the local cluster: mirror out of a pod or a claim, restore into one, and the failures.

The tests of one class run in order and share the local mirror, like
successive backup runs do.
"""

from __future__ import annotations

import hashlib
import os
import threading

import pytest

from k8s_helpers import make_claim, make_pod, pod_exec, wait_for

POPULATE = r"""
set -e
mkdir -p /data/db/sub /data/empty-dir
head -c 3000000 /dev/urandom > /data/db/ibdata1
i=0; while [ $i -lt 200 ]; do echo "row $i" > /data/db/sub/t$i.frm; i=$((i+1)); done
printf 'odd' > "/data/sp ace"
printf 'nl' > "/data/new
line"
ln -s db/ibdata1 /data/link
mkfifo /data/fifo
chmod 600 /data/db/ibdata1
chmod 750 /data/db/sub
"""

# sha256, mode and type of every entry under a directory, as the pod sees it.
REMOTE_STATE = r"""cd "$1" && find . -mindepth 1 ! -type p ! -name '.statesafe-*' -printf '%y %m %P\0' | sort -z |
while IFS= read -r -d '' line; do
  set -- $line; kind=$1; path=${line#* * }
  case $kind in f) sum=$(sha256sum < "$path" | cut -c1-64);; l) sum=$(readlink "$path");; *) sum=-;; esac
  printf '%s %s %s\n' "$kind" "$sum" "$path" | tr '\n' '|'; printf '\n'
done"""

KILL_TAR = r"""i=0
while [ $i -lt 400 ]; do
  for p in /proc/[0-9]*; do
    if [ "$(cat "$p/comm" 2>/dev/null)" = tar ]; then kill -9 "${p#/proc/}"; echo killed; exit 0; fi
  done
  sleep 0.05; i=$((i+1))
done
exit 1"""


def remote_state(kubectl, ns, pod, path):
    done = kubectl("exec", "-n", ns, pod, "--", "bash", "-c", REMOTE_STATE, "bash", path)
    return sorted(line for line in done.stdout.decode("utf-8", "surrogateescape").splitlines() if line)


def local_state(root):
    lines = []
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                kind, summary = "l", os.readlink(path)
            elif os.path.isdir(path):
                kind, summary = "d", "-"
            else:
                kind = "f"
                with open(path, "rb") as handle:
                    summary = hashlib.sha256(handle.read()).hexdigest()
            lines.append(f"{kind} {summary} {rel}".replace("\n", "|") + "|")
    return sorted(lines)


def helper_pods(core, ns):
    return core.list_namespaced_pod(ns, label_selector="app.kubernetes.io/component=pv-copy-helper").items


@pytest.fixture(scope="module")
def app(core, kubectl, ns, toolbox_image):
    make_claim(core, ns, "data")
    make_pod(core, ns, "app", toolbox_image, containers=("main", "side"), claim="data")
    pod_exec(kubectl, ns, "app", POPULATE)
    return ns


@pytest.fixture(scope="module")
def local(tmp_path_factory):
    return tmp_path_factory.mktemp("pv-copy")


class TestFromPod:
    def test_check_mode_lists_but_writes_nothing(self, run_module, app, local):
        run = run_module("k8s_pv_copy", {"namespace": app, "pod": "app", "remote_path": "/data",
                                         "local_path": str(local / "mirror")}, check=True)
        assert run.rc == 0 and run.changed, run
        assert run["plan"]["transfer"] == 203 and run["files_transferred"] == 0
        assert not (local / "mirror").exists()

    def test_first_copy_mirrors_everything(self, run_module, kubectl, app, local):
        run = run_module("k8s_pv_copy", {"namespace": app, "pod": "app", "remote_path": "/data",
                                         "local_path": str(local / "mirror")})
        assert run.rc == 0 and run.changed, run
        assert run["files_transferred"] == 203 and run["files_skipped"] == 0
        assert run["bytes_transferred"] == 3000000 + (10 * 6 + 90 * 7 + 100 * 8) + 3 + 2
        assert run["ignored"] == ["fifo"] and run["ignored_count"] == 1
        assert run["throughput"] > 0 and run["duration"] > 0
        assert local_state(str(local / "mirror")) == remote_state(kubectl, app, "app", "/data")
        assert oct(os.stat(local / "mirror" / "db" / "ibdata1").st_mode & 0o777) == "0o600"

    def test_second_copy_changes_nothing(self, run_module, app, local):
        before = os.stat(local / "mirror" / "db" / "ibdata1")
        run = run_module("k8s_pv_copy", {"namespace": app, "pod": "app", "remote_path": "/data",
                                         "local_path": str(local / "mirror")})
        assert run.rc == 0 and not run.changed, run
        assert run["files_transferred"] == 0 and run["files_skipped"] == 203
        after = os.stat(local / "mirror" / "db" / "ibdata1")
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)

    def test_incremental_copy_transfers_only_changes(self, run_module, kubectl, app, local):
        pod_exec(kubectl, app, "app", "echo changed >> /data/db/sub/t1.frm; touch -d '2001-01-01' /data/db/sub/t1.frm;"
                                      " rm /data/db/sub/t2.frm; echo new > /data/db/new.frm")
        untouched = os.stat(local / "mirror" / "db" / "sub" / "t3.frm").st_ino
        run = run_module("k8s_pv_copy", {"namespace": app, "pod": "app", "remote_path": "/data",
                                         "local_path": str(local / "mirror")})
        assert run.rc == 0 and run.changed, run
        assert (run["files_transferred"], run["files_removed"], run["files_skipped"]) == (2, 1, 201)
        assert local_state(str(local / "mirror")) == remote_state(kubectl, app, "app", "/data")
        assert os.stat(local / "mirror" / "db" / "sub" / "t3.frm").st_ino == untouched

    def test_exclude(self, run_module, app, local):
        run = run_module("k8s_pv_copy", {"namespace": app, "pod": "app", "container": "side", "remote_path": "/data",
                                         "local_path": str(local / "excluded"), "exclude": ["sub", "*.frm"]})
        assert run.rc == 0, run
        assert not (local / "excluded" / "db" / "sub").exists() and not (local / "excluded" / "db" / "new.frm").exists()
        assert (local / "excluded" / "db" / "ibdata1").exists()


class TestThroughClaim:
    def test_from_claim_through_helper_on_the_claim_s_node(self, run_module, core, kubectl, app, local):
        run = run_module("k8s_pv_copy", {"namespace": app, "pvc": "data", "local_path": str(local / "claim")})
        assert run.rc == 0 and run.changed, run
        assert run["helper_node"] == core.read_namespaced_pod("app", app).spec.node_name
        assert run["helper_pod"].startswith("statesafe-copy-data-")
        assert helper_pods(core, app) == [], "helper pod left behind"
        assert local_state(str(local / "claim")) == remote_state(kubectl, app, "app", "/data")

    def test_check_mode_starts_no_helper(self, run_module, core, app, local):
        run = run_module("k8s_pv_copy", {"namespace": app, "pvc": "data", "local_path": str(local / "claim")},
                         check=True)
        assert run.rc == 0 and run.result.get("skipped") and not run.changed, run
        assert helper_pods(core, app) == []

    def test_restore_into_a_fresh_claim_then_idempotent(self, run_module, core, kubectl, app, local, toolbox_image):
        make_claim(core, app, "restored")
        restore = {"namespace": app, "state": "to_pod", "pvc": "restored", "local_path": str(local / "claim")}
        check = run_module("k8s_pv_copy", restore, check=True)
        assert check.rc == 0 and check.result.get("skipped"), check
        run = run_module("k8s_pv_copy", restore)
        assert run.rc == 0 and run.changed, run
        files = sum(len(names) for _dir, _subdirs, names in os.walk(local / "claim"))
        assert run["files_transferred"] == files - 1 and helper_pods(core, app) == []  # minus the symlink
        again = run_module("k8s_pv_copy", restore)
        assert again.rc == 0 and not again.changed and again["files_transferred"] == 0, again
        make_pod(core, app, "reader", toolbox_image, claim="restored")
        assert remote_state(kubectl, app, "reader", "/data") == local_state(str(local / "claim"))

    def test_missing_claim(self, run_module, core, app, local):
        run = run_module("k8s_pv_copy", {"namespace": app, "pvc": "nope", "local_path": str(local / "x")})
        assert run.failed and "claim nope not found" in run.msg and f"namespace={app}" in run.msg, run
        assert helper_pods(core, app) == []

    def test_bad_helper_image_fails_and_cleans_up(self, run_module, core, app, local):
        run = run_module("k8s_pv_copy", {"namespace": app, "pvc": "data", "local_path": str(local / "x"),
                                         "helper_image": "localhost/does-not-exist:1", "helper_start_timeout": 20})
        assert run.failed, run
        assert "helper" in run.msg and "localhost/does-not-exist:1" in run.msg
        assert helper_pods(core, app) == []
        assert not (local / "x").exists()


class TestToPod:
    def test_restore_into_pod_path_swaps_and_is_idempotent(self, run_module, kubectl, app, local):
        pod_exec(kubectl, app, "app", "mkdir -p /restore && echo old > /restore/old-file")
        args = {"namespace": app, "state": "to_pod", "pod": "app", "remote_path": "/restore",
                "local_path": str(local / "mirror")}
        check = run_module("k8s_pv_copy", args, check=True)
        assert check.rc == 0 and check.changed, check
        assert pod_exec(kubectl, app, "app", "ls -A /restore").stdout == b"old-file\n"
        run = run_module("k8s_pv_copy", args)
        assert run.rc == 0 and run.changed, run
        assert remote_state(kubectl, app, "app", "/restore") == local_state(str(local / "mirror"))
        assert b".statesafe" not in pod_exec(kubectl, app, "app", "ls -A /restore").stdout
        again = run_module("k8s_pv_copy", args)
        assert again.rc == 0 and not again.changed, again


class TestErrors:
    @pytest.mark.parametrize("args, message, location", [
        ({"pod": "nope"}, 'pods "nope" not found', "pod=nope"),
        ({"pod": "app", "container": "db"}, "container db not found in pod; it has: main, side", "container=db"),
        ({"pod": "app", "remote_path": "/no/such/dir"}, "remote path does not exist", "path=/no/such/dir"),
        ({"pod": "app", "remote_path": "/etc/hostname"}, "remote path is not a directory", "path=/etc/hostname"),
        ({"pod": "app", "remote_path": "relative"}, "remote_path must be absolute", "path=relative"),
    ])
    def test_clear_messages(self, run_module, app, local, args, message, location):
        run = run_module("k8s_pv_copy", dict({"namespace": app, "remote_path": "/data",
                                              "local_path": str(local / "err")}, **args))
        assert run.failed, run
        assert message in run.msg and location in run.msg and f"namespace={app}" in run.msg
        assert not (local / "err").exists()

    def test_forbidden_exec(self, run_module, app, local, limited_connection):
        connection = limited_connection("no-exec", [{"resources": ["pods"], "verbs": ["get", "list"]}])
        run = run_module("k8s_pv_copy", {"namespace": app, "pod": "app", "remote_path": "/data",
                                         "local_path": str(local / "err")}, connection=connection)
        assert run.failed and "exec forbidden" in run.msg and "pod=app" in run.msg, run
        assert not (local / "err").exists()

    def test_forbidden_helper_creation(self, run_module, core, app, local, limited_connection):
        connection = limited_connection("no-create", [
            {"resources": ["pods", "persistentvolumeclaims"], "verbs": ["get", "list"]}])
        run = run_module("k8s_pv_copy", {"namespace": app, "pvc": "data", "local_path": str(local / "err")},
                         connection=connection)
        assert run.failed and "403" in run.msg and "forbidden" in run.msg, run
        assert helper_pods(core, app) == []


@pytest.fixture(scope="module")
def big(kubectl, app):
    pod_exec(kubectl, app, "app", "mkdir -p /big && head -c 400000000 /dev/zero > /big/file && echo x > /big/small")
    return "/big"


class TestStreamCut:
    """Kill tar inside the pod while the stream flows: the task fails and nothing is half-written."""

    def run_while_killing_tar(self, run_module, kubectl, ns, args):
        outcome = {}
        thread = threading.Thread(target=lambda: outcome.update(run=run_module("k8s_pv_copy", args)))
        thread.start()
        killed = pod_exec(kubectl, ns, "app", KILL_TAR, check=False)
        thread.join()
        assert killed.stdout == b"killed\n", "tar never showed up in the pod; the test proves nothing"
        return outcome["run"]

    def test_from_pod_cut(self, run_module, kubectl, app, local, big):
        mirror = local / "cut"
        run = self.run_while_killing_tar(run_module, kubectl, app, {
            "namespace": app, "pod": "app", "remote_path": big, "local_path": str(mirror)})
        assert run.failed, run
        assert "tar in the pod failed" in run.msg and "pod=app" in run.msg and f"path={big}" in run.msg
        assert not mirror.exists(), "a cut copy must not leave a partial mirror"
        assert not [p for p in os.listdir(local) if "statesafe-incoming" in p], "staging left behind"

    def test_to_pod_cut_keeps_old_data(self, run_module, kubectl, app, local, tmp_path):
        source = tmp_path / "src"
        source.mkdir()
        with open(source / "big", "wb") as handle:
            handle.truncate(400000000)
        pod_exec(kubectl, app, "app", "mkdir -p /target && echo precious > /target/keep")
        run = self.run_while_killing_tar(run_module, kubectl, app, {
            "namespace": app, "state": "to_pod", "pod": "app", "remote_path": "/target",
            "local_path": str(source)})
        assert run.failed, run
        assert "old data was left in place" in run.msg and "path=/target" in run.msg, run.msg
        listing = pod_exec(kubectl, app, "app", "ls -A /target; cat /target/keep").stdout
        assert listing == b"keep\nprecious\n"

    def test_helper_removed_after_a_failed_copy(self, run_module, core, app, local):
        run = run_module("k8s_pv_copy", {"namespace": app, "pvc": "data", "remote_path": "no-such-dir",
                                         "local_path": str(local / "err2")})
        assert run.failed and "remote path does not exist" in run.msg and "path=/mnt/claim/no-such-dir" in run.msg
        wait_for(lambda: helper_pods(core, app) == [], 5, "helper pod removal")


# A writer appending to a 20 MB log in a tight loop, as a busy database or ZooKeeper does; $1 is the directory.
# With $2 = once it stops as soon as a tar that read the directory has ended (the first copy attempt is spoiled, the
# next one is clean); otherwise it runs until killed (at most 300 s).
LIVE_WRITER = r"""set -e
mkdir -p "$1" && head -c 20000000 /dev/urandom > "$1/log" && echo quiet > "$1/other"
(
  seen=0
  while :; do
    i=0; while [ $i -lt 100 ]; do echo x >> "$1/log"; i=$((i+1)); done
    if [ "$2" = once ]; then
      running=0
      for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = tar ] && running=1; done
      [ $running = 1 ] && seen=1
      [ $seen = 1 ] && [ $running = 0 ] && exit 0
    fi
  done
) >/dev/null 2>&1 &
echo $! > "$1.pid"
"""


class TestLiveWrites:
    """Files written while they are copied: the copy is repeated, never applied half-changed."""

    @staticmethod
    def copy_while_writing(run_module, kubectl, ns, local, path, mode):
        """k8s_pv_copy of path while LIVE_WRITER appends to its log; the writer is stopped afterwards."""
        pod_exec(kubectl, ns, "app", "set -- {0} {1}\n".format(path, mode) + LIVE_WRITER)
        mirror = local / path.strip("/")
        # A `once` writer may have ended by itself; one that runs `forever` must still be there to be stopped.
        stop = 'kill "$(cat {0}.pid)"'.format(path) + (" 2>/dev/null || true" if mode == "once" else "")
        try:
            run = run_module("k8s_pv_copy", {"namespace": ns, "pod": "app", "remote_path": path,
                                             "local_path": str(mirror)})
        finally:
            pod_exec(kubectl, ns, "app", stop)
        return run, mirror

    def test_a_file_that_changes_during_one_attempt_is_copied_on_the_next(self, run_module, kubectl, app, local):
        run, mirror = self.copy_while_writing(run_module, kubectl, app, local, "/live-once", "once")
        assert run.rc == 0 and run["changed_retries"] >= 1, run
        assert local_state(str(mirror)) == remote_state(kubectl, app, "app", "/live-once")

    def test_a_file_that_never_stops_changing_fails_naming_it(self, run_module, kubectl, app, local):
        run, mirror = self.copy_while_writing(run_module, kubectl, app, local, "/live", "forever")
        assert run.failed, run
        assert "kept changing while they were copied (3 attempts)" in run.msg, run.msg
        assert "log" in run.msg and "pod=app" in run.msg, run.msg
        assert not mirror.exists(), "a copy of a changing file must not be applied"
        assert not [p for p in os.listdir(local) if "statesafe-incoming" in p], "staging left behind"


class TestLocalDiskFull:
    """small_disk (2 MiB): the pod's /data, 3 MB in db/ibdata1 alone, does not fit."""

    def test_first_copy_fails_naming_the_path_and_leaves_nothing(self, run_module, app, small_disk):
        mirror = small_disk / "mirror"
        run = run_module("k8s_pv_copy", {"namespace": app, "pod": "app", "remote_path": "/data",
                                         "local_path": str(mirror)})
        assert run.failed, run
        assert "No space left on device" in run.msg and str(small_disk) in run.msg, run.msg
        assert os.listdir(small_disk) == [], "neither a partial mirror nor staging may be left"

    def test_failed_update_keeps_the_old_mirror(self, run_module, kubectl, app, small_disk):
        mirror = small_disk / "mirror"
        first = run_module("k8s_pv_copy", {"namespace": app, "pod": "app", "remote_path": "/data",
                                           "local_path": str(mirror), "exclude": ["ibdata1"]})
        assert first.rc == 0 and first.changed, first
        before = local_state(str(mirror))
        run = run_module("k8s_pv_copy", {"namespace": app, "pod": "app", "remote_path": "/data",
                                         "local_path": str(mirror)})
        assert run.failed and "No space left on device" in run.msg, run
        assert local_state(str(mirror)) == before, "a failed update must leave the previous mirror as it was"
        assert os.listdir(small_disk) == ["mirror"], "staging left behind"
