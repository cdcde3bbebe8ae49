"""The zuul-keys component of profiles/softwarefactory.yml: its shell commands, run against a stand-in zuul-admin.

The stand-in keeps "ZooKeeper" in a JSON file and behaves like Zuul's: export-keys opens its file without
truncating it, import-keys creates missing keys and overwrites existing ones only with --force. One mode
ignores --force, to show that the restore command does not trust import-keys' exit code.
The real zuul-admin runs in tests/integration/roles/test_zuul_keys.py.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]

STUB = """#!{python}
import json, os, sys, time
store_path = os.environ["ZUUL_STUB_STORE"]
store = json.load(open(store_path)) if os.path.exists(store_path) else {{}}
command, *args = sys.argv[1:]
# ZUUL_STUB_HANG="export-keys:before,import-keys:after": never exit, before or after doing the work (the real
# zuul-admin retries its ZooKeeper connection forever, and can stay alive after its work is done).
hang = dict(item.split(":") for item in os.environ.get("ZUUL_STUB_HANG", "").split(",") if item)
if hang.get(command) == "before":
    time.sleep(3600)
if command == "export-keys":
    # Like zuul-admin: O_CREAT | O_WRONLY, no O_TRUNC.
    with open(os.open(args[-1], os.O_CREAT | os.O_WRONLY, 0o600), "w") as f:
        json.dump({{"keys": store}}, f)
elif command == "import-keys":
    force = "--force" in args and not os.environ.get("ZUUL_STUB_IGNORE_FORCE")
    for path, data in json.load(open(args[-1]))["keys"].items():
        if path not in store or force:
            store[path] = data
        else:
            print("Not overwriting existing key at " + path, file=sys.stderr)
    json.dump(store, open(store_path, "w"))
else:
    sys.exit("unknown command " + command)
if hang.get(command) == "after":
    time.sleep(3600)
"""


def key(n):
    return {"keys": [{"created": 1700000000 + n, "private_key": "-----BEGIN ENCRYPTED PRIVATE KEY-----\n%d\n" % n,
                      "version": 0}], "schema": 1}


BACKUP = {"/keystorage/gerrit/config/config/secrets": key(1), "/keystorage/gerrit/config/config/ssh": key(2),
          "/keystorage2/tenant/internal/ssh": key(3)}


@pytest.fixture(scope="module")
def component():
    profile = yaml.safe_load((ROOT / "profiles" / "softwarefactory.yml").read_text())
    return next(c for c in profile["components"] if c["name"] == "zuul-keys")


@pytest.fixture
def pod(tmp_path):
    """Runs a command as pod_dump does (sh -c), with the stand-in zuul-admin first on PATH."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "tmp").mkdir()
    stub = tmp_path / "bin" / "zuul-admin"
    stub.write_text(STUB.format(python=sys.executable))
    stub.chmod(0o755)
    # python3 in the command is the zuul container's; here any python3 on PATH does.
    (tmp_path / "bin" / "python3").symlink_to(sys.executable)
    store = tmp_path / "zookeeper.json"

    def run(command, stdin=b"", **env):
        environ = dict(os.environ, PATH=f"{tmp_path / 'bin'}:{os.environ['PATH']}", TMPDIR=str(tmp_path / "tmp"),
                       ZUUL_STUB_STORE=str(store), **env)
        return subprocess.run(["/bin/sh", "-c", command], input=stdin, env=environ, capture_output=True, check=False,
                              timeout=120)

    run.store = store
    run.tmp = tmp_path / "tmp"
    return run


def test_component_is_a_dump_in_the_zuul_scheduler_pod(component):
    assert component["type"] == "dump"
    assert (component["pod"], component["container"], component["statefulset"]) == (
        "zuul-scheduler-0", "zuul-scheduler", "zuul-scheduler")
    assert component["extension"] == "json"


def test_backup_streams_a_fresh_export_and_cleans_up(component, pod):
    pod.store.write_text(json.dumps(BACKUP))
    run = pod(component["command"])
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"keys": BACKUP}
    assert re.search(component["trailer"].encode(), run.stdout[-4096:])
    assert not list(pod.tmp.iterdir()), "the export's directory was left behind"


def test_trailer_refuses_a_cut_export(component, pod):
    pod.store.write_text(json.dumps(BACKUP))
    out = pod(component["command"]).stdout
    for cut in (1, 2, len(out) // 2):
        assert not re.search(component["trailer"].encode(), out[:-cut][-4096:]), cut


def test_backup_fails_when_export_fails(component, pod):
    pod.store.write_text("not json")
    run = pod(component["command"])
    assert run.returncode != 0 and run.stdout == b""


def test_restore_into_empty_zookeeper_imports_and_proves(component, pod):
    run = pod(component["restore_command"], stdin=json.dumps({"keys": BACKUP}).encode())
    assert run.returncode == 0, run.stderr
    assert json.loads(pod.store.read_text()) == BACKUP
    assert b"all 3 keys of the backup are in ZooKeeper as backed up" in run.stderr
    assert not list(pod.tmp.iterdir())


def test_restore_overwrites_a_different_existing_key(component, pod):
    pod.store.write_text(json.dumps({**BACKUP, "/keystorage/gerrit/config/config/ssh": key(99)}))
    run = pod(component["restore_command"], stdin=json.dumps({"keys": BACKUP}).encode())
    assert run.returncode == 0, run.stderr
    assert json.loads(pod.store.read_text()) == BACKUP


def test_restore_fails_when_import_exits_0_but_skipped_a_key(component, pod):
    pod.store.write_text(json.dumps({"/keystorage/gerrit/config/config/ssh": key(99)}))
    run = pod(component["restore_command"], stdin=json.dumps({"keys": BACKUP}).encode(), ZUUL_STUB_IGNORE_FORCE="1")
    assert run.returncode != 0
    assert b"lacks 0 and has 1 different of the backup's 3 keys: /keystorage/gerrit/config/config/ssh" in run.stderr


def test_restore_keeps_and_names_keys_not_in_the_backup(component, pod):
    extra = {"/keystorage/gerrit/new/new/secrets": key(7)}
    pod.store.write_text(json.dumps(extra))
    run = pod(component["restore_command"], stdin=json.dumps({"keys": BACKUP}).encode())
    assert run.returncode == 0, run.stderr
    assert json.loads(pod.store.read_text()) == {**BACKUP, **extra}
    assert b"kept 1 keys that are not in the backup: /keystorage/gerrit/new/new/secrets" in run.stderr


def test_restore_refuses_input_that_is_not_an_export(component, pod):
    run = pod(component["restore_command"], stdin=b'{"keys": {"/keyst')
    assert run.returncode != 0


# A stalled zuul-admin is stopped after ZUUL_ADMIN_TIMEOUT seconds (240 in the pod); 2 here.
def test_backup_keeps_a_complete_export_whose_writer_did_not_exit(component, pod):
    pod.store.write_text(json.dumps(BACKUP))
    run = pod(component["command"], ZUUL_STUB_HANG="export-keys:after", ZUUL_ADMIN_TIMEOUT="2")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == {"keys": BACKUP}
    assert b"wrote a complete export but did not exit within 2 s; stopped it" in run.stderr
    assert not list(pod.tmp.iterdir())


def test_backup_fails_clearly_when_export_never_writes(component, pod):
    pod.store.write_text(json.dumps(BACKUP))
    run = pod(component["command"], ZUUL_STUB_HANG="export-keys:before", ZUUL_ADMIN_TIMEOUT="2")
    assert run.returncode == 124
    assert run.stdout == b""
    assert b"did not finish within 2 s and wrote no complete export" in run.stderr
    assert not list(pod.tmp.iterdir())


def test_restore_proves_an_import_that_did_not_exit(component, pod):
    run = pod(component["restore_command"], stdin=json.dumps({"keys": BACKUP}).encode(),
              ZUUL_STUB_HANG="import-keys:after", ZUUL_ADMIN_TIMEOUT="2")
    assert run.returncode == 0, run.stderr
    assert b"import-keys did not exit within 2 s" in run.stderr
    assert b"all 3 keys of the backup are in ZooKeeper as backed up" in run.stderr


def test_restore_fails_when_a_stalled_import_imported_nothing(component, pod):
    run = pod(component["restore_command"], stdin=json.dumps({"keys": BACKUP}).encode(),
              ZUUL_STUB_HANG="import-keys:before", ZUUL_ADMIN_TIMEOUT="2")
    assert run.returncode != 0
    assert b"lacks 3 and has 0 different of the backup's 3 keys" in run.stderr


def test_restore_is_not_proven_when_the_check_export_never_writes(component, pod):
    run = pod(component["restore_command"], stdin=json.dumps({"keys": BACKUP}).encode(),
              ZUUL_STUB_HANG="export-keys:before", ZUUL_ADMIN_TIMEOUT="2")
    assert run.returncode != 0
    assert b"wrote no complete export within 2 s: the import is not proven" in run.stderr
