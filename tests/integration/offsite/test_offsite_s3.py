"""Encrypted offsite copies against a real MinIO, real age, real bup: push, list, unchanged push, retention,
pull on another machine and restore, ciphertext only in the bucket, and the failures that must leave the local
repository as it was."""

from __future__ import annotations

import calendar
import hashlib
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from bup_helpers import VENV_BIN, ansible_env, git, markers, tree_digest, write_tree

from ansible_collections.statesafe.backup.plugins.module_utils.bup import operations as bup_ops
from ansible_collections.statesafe.backup.plugins.module_utils.bup import repository as bup_repository

KNOWN = b"statesafe-offsite-known-plaintext " * 64  # compressible text bup stores as-is or zlib'd


def at(text: str) -> int:
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M"))


def save(repo: Path, staging_root: Path, label: str, when: str, extra: dict | None = None) -> Path:
    files = {"resources/Secret/db.yaml": b"kind: Secret\ndata:\n  password: " + label.encode() + b"\n",
             "dumps/mariadb.sql": KNOWN + label.encode() + os.urandom(512 * 1024),
             "volumes/data/blob.bin": os.urandom(256 * 1024)}
    files.update(extra or {})
    staging = write_tree(staging_root / label, files)
    params = {"repository": str(repo), "branch": "sf", "staging": str(staging), "manifest": "MANIFEST.json",
              "date": at(when), "lock_timeout": 5, "validate": "sha256"}
    result = bup_ops.run_save(bup_repository.repository_from_params(params), params)
    assert result["complete"], result
    return staging


def snapshot(repo: Path) -> dict[str, str]:
    """sha256 of every file of the repository but the run lock's file, and its refs: 'untouched' means equal."""
    found = {}
    for path in sorted(repo.rglob("*")):
        if path.is_file() and path.name != "statesafe.lock":
            found[str(path.relative_to(repo))] = hashlib.sha256(path.read_bytes()).hexdigest()
    found["<refs>"] = git(repo, "for-each-ref")
    return found


def pack_files(repo: Path) -> set[str]:
    return set(p.name for p in (repo / "objects" / "pack").iterdir()
               if re.match(r"^pack-[0-9a-f]{40}\.(pack|idx)$", p.name))


class Offsite:
    """Arguments of bup_offsite for one bucket and prefix."""

    def __init__(self, minio, bucket, age, prefix="statesafe/sf"):
        self.minio, self.bucket, self.age, self.prefix = minio, bucket, age, prefix

    def args(self, **extra):
        args = {"bucket": self.bucket, "prefix": self.prefix, "endpoint_url": self.minio.endpoint,
                "access_key": self.minio.access_key, "secret_key": self.minio.secret_key,
                "addressing_style": "path", "region": "us-east-1", "age_command": self.age}
        args.update(extra)
        return args


@pytest.fixture
def offsite(minio, offsite_bin):
    return Offsite(minio, minio.new_bucket(), str(offsite_bin / "age"))


def test_push_list_unchanged_pull_restore(run_module, minio, offsite, age_key, repo_path, tmp_path):
    identity, recipient = age_key
    staging = save(repo_path, tmp_path / "staging", "a1", "2024-06-01 10:00")
    save(repo_path, tmp_path / "staging", "a2", "2024-06-02 10:00")
    before = snapshot(repo_path)

    planned = run_module("bup_offsite", check=True, **offsite.args(repository=str(repo_path), recipients=[recipient]))
    assert planned["changed"] and planned["uploaded"] and minio.objects(offsite.bucket) == {}, "check mode sent nothing"

    first = run_module("bup_offsite", **offsite.args(repository=str(repo_path), recipients=[recipient]))
    assert not first.failed, first.get("msg")
    assert first["changed"] and first["index_uploaded"]
    assert set(first["uploaded"]) >= pack_files(repo_path)
    stored = minio.objects(offsite.bucket)
    assert f"{offsite.prefix}/index.json.age" in stored
    assert len(stored) == len(first["uploaded"]) + 1 == first["remote_objects"]
    assert first["uploaded_bytes"] == sum(o["size"] for o in stored.values())
    assert snapshot(repo_path) == before, "a push only reads the local repository"

    # Nothing in the bucket is plaintext: no pack signature, no known content, no ref or file names.
    for key in stored:
        data = minio.read(offsite.bucket, key)
        assert data.startswith(b"age-encryption.org/v1\n"), key
        for needle in (b"PACK", b"DIRC", KNOWN[:40], b"kind: Secret", b"refs/heads", b"MANIFEST"):
            assert needle not in data, (key, needle)

    listed = run_module("bup_offsite", operation="list", **offsite.args(identity_file=str(identity)))
    assert listed["exists"] and listed["objects"] == len(stored) and listed["missing"] == []
    assert listed["index"]["branches"] == {"sf": git(repo_path, "rev-parse", "refs/heads/sf").strip()}
    assert sorted(listed["index"]["complete_markers"]["sf"]) == sorted(m.rsplit("/", 1)[1] for m in markers(repo_path))
    assert listed["recipients_fingerprint"] == first["recipients_fingerprint"]

    second = run_module("bup_offsite", **offsite.args(repository=str(repo_path), recipients=[recipient]))
    assert not second.failed, second.get("msg")
    assert not second["changed"] and second["uploaded"] == [] and second["deleted"] == []
    assert not second["index_uploaded"] and second["uploaded_bytes"] == 0
    assert minio.objects(offsite.bucket) == stored, "not one object written again"

    # Another machine: a fresh HOME, no bup directory, nothing but the key, the credentials and the playbooks.
    other = tmp_path / "other-machine"
    (other / "home").mkdir(parents=True)
    env = {"HOME": str(other / "home"), "BUP_DIR": str(other / "home" / "nonexistent")}
    planned = run_module("bup_offsite", operation="pull", check=True, env=env,
                         **offsite.args(repository=str(other / "bup"), identity_file=str(identity)))
    assert not planned.failed and planned["changed"] and set(planned["downloaded"]) == set(first["uploaded"])
    assert sorted(p.name for p in other.iterdir()) == ["home"], "check mode wrote nothing"
    pulled = run_module("bup_offsite", operation="pull", env=env,
                        **offsite.args(repository=str(other / "bup"), identity_file=str(identity)))
    assert not pulled.failed, pulled.get("msg")
    assert set(pulled["downloaded"]) == set(first["uploaded"])
    assert markers(other / "bup") == markers(repo_path), "completeness markers survive"
    assert git(other / "bup", "for-each-ref") == git(repo_path, "for-each-ref")
    assert not [p for p in other.iterdir() if p.name.startswith(".statesafe-pull-")], "no temporary left behind"

    restored = run_module("bup_restore", env=env, repository=str(other / "bup"), branch="sf",
                          archive="2024-06-01", target=str(other / "restored"))
    assert not restored.failed, restored.get("msg")
    assert tree_digest(other / "restored") == tree_digest(staging)
    fsck = subprocess.run(["git", f"--git-dir={other / 'bup'}", "fsck", "--connectivity-only"], capture_output=True,
                          text=True, check=False, timeout=120)
    assert fsck.returncode == 0, fsck.stderr

    again = run_module("bup_offsite", operation="pull", env=env,
                       **offsite.args(repository=str(other / "bup"), identity_file=str(identity)))
    assert again.failed and "not an empty directory" in again["msg"]


def test_remote_retention_follows_local_gc(run_module, minio, offsite, age_key, repo_path, tmp_path):
    identity, recipient = age_key
    save(repo_path, tmp_path / "staging", "old", "2024-06-01 10:00")
    newest = save(repo_path, tmp_path / "staging", "new", "2024-06-01 11:00")
    first = run_module("bup_offsite", **offsite.args(repository=str(repo_path), recipients=[recipient]))
    assert not first.failed, first.get("msg")
    packs_before = pack_files(repo_path)

    params = {"repository": str(repo_path), "branch": "sf", "keep_dailies_for": "forever", "lock_timeout": 5,
              "gc": True, "wrt": at("2024-06-10 00:00")}
    pruned = bup_ops.run_retention(bup_repository.repository_from_params(params), params)
    assert [a["name"] for a in pruned["removed"]] and pruned["gc"]
    gone = packs_before - pack_files(repo_path)
    assert gone, "gc removed or rewrote a pack"

    second = run_module("bup_offsite", **offsite.args(repository=str(repo_path), recipients=[recipient]))
    assert not second.failed, second.get("msg")
    assert second["changed"] and second["index_uploaded"]
    deleted_names = set(k.rsplit("/", 1)[1][:-len(".age")] for k in second["deleted"])
    assert deleted_names == gone
    remote_names = set(k.rsplit("/", 1)[1][:-len(".age")] for k in minio.objects(offsite.bucket)
                       if "/packs/" in k)
    assert remote_names == set(p.name for p in (repo_path / "objects" / "pack").iterdir()
                               if re.match(r"^pack-[0-9a-f]{40}\.", p.name)), "the remote mirrors the local packs"

    pulled = run_module("bup_offsite", operation="pull",
                        **offsite.args(repository=str(tmp_path / "pulled"), identity_file=str(identity)))
    assert not pulled.failed, pulled.get("msg")
    assert markers(tmp_path / "pulled") == markers(repo_path) and len(markers(repo_path)) == 1
    restored = run_module("bup_restore", repository=str(tmp_path / "pulled"), branch="sf", archive="latest",
                          target=str(tmp_path / "restored"))
    assert not restored.failed, restored.get("msg")
    assert tree_digest(tmp_path / "restored") == tree_digest(newest)


def test_push_without_a_key_is_refused(run_module, minio, offsite, repo_path, tmp_path):
    save(repo_path, tmp_path / "staging", "a1", "2024-06-01 10:00")
    refused = run_module("bup_offsite", **offsite.args(repository=str(repo_path)))
    assert refused.failed and "refusing to push without encryption" in refused["msg"]
    assert minio.objects(offsite.bucket) == {}


def test_failures_are_clear_and_leave_the_local_repository_untouched(
        run_module, minio, offsite, age_key, repo_path, tmp_path, offsite_bin):
    identity, recipient = age_key
    save(repo_path, tmp_path / "staging", "a1", "2024-06-01 10:00")
    before = snapshot(repo_path)

    wrong_credentials = run_module("bup_offsite", **offsite.args(repository=str(repo_path), recipients=[recipient],
                                                                 secret_key="not-the-secret"))
    assert wrong_credentials.failed and "SignatureDoesNotMatch" in wrong_credentials["msg"]
    assert "check the credentials" in wrong_credentials["msg"] and offsite.bucket in wrong_credentials["msg"]
    assert "not-the-secret" not in wrong_credentials.stdout
    unknown_user = run_module("bup_offsite", **offsite.args(repository=str(repo_path), recipients=[recipient],
                                                            access_key="nobody"))
    assert unknown_user.failed and "InvalidAccessKeyId" in unknown_user["msg"]

    closed = f"http://127.0.0.1:{_closed_port()}"
    started = time.time()
    unreachable = run_module("bup_offsite", **offsite.args(repository=str(repo_path), recipients=[recipient],
                                                           endpoint_url=closed, retries=1, connect_timeout=2))
    assert unreachable.failed and "cannot reach the endpoint" in unreachable["msg"] and closed in unreachable["msg"]
    assert time.time() - started < 60
    assert snapshot(repo_path) == before and minio.objects(offsite.bucket) == {}

    pushed = run_module("bup_offsite", **offsite.args(repository=str(repo_path), recipients=[recipient]))
    assert not pushed.failed, pushed.get("msg")
    stored = minio.objects(offsite.bucket)

    # A wrong key: a pull with another identity, a push to other recipients.
    other_identity = tmp_path / "other.key"
    subprocess.run([str(offsite_bin / "age-keygen"), "-o", str(other_identity)], check=True, capture_output=True,
                   timeout=120)
    other_recipient = subprocess.run([str(offsite_bin / "age-keygen"), "-y", str(other_identity)], check=True,
                                     capture_output=True, text=True, timeout=120).stdout.strip()
    target = tmp_path / "pulled"
    wrong_key = run_module("bup_offsite", operation="pull",
                           **offsite.args(repository=str(target), identity_file=str(other_identity)))
    assert wrong_key.failed and "age could not decrypt" in wrong_key["msg"]
    assert "no identity matched" in wrong_key["msg"] and str(other_identity) in wrong_key["msg"]
    assert not target.exists() and not list(tmp_path.glob(".statesafe-pull-*"))

    other_recipients = run_module("bup_offsite", **offsite.args(repository=str(repo_path),
                                                                recipients=[other_recipient]))
    assert other_recipients.failed and "encrypted to other recipients" in other_recipients["msg"]

    for bad_pull in (dict(secret_key="not-the-secret"), dict(endpoint_url=closed, retries=1, connect_timeout=2)):
        failed = run_module("bup_offsite", operation="pull",
                            **offsite.args(repository=str(target), identity_file=str(identity), **bad_pull))
        assert failed.failed and not target.exists()

    assert snapshot(repo_path) == before, "no failure touched the local repository"
    assert minio.objects(offsite.bucket) == stored, "no failure touched the offsite copy"


def test_tampered_object_is_detected(run_module, minio, offsite, age_key, repo_path, tmp_path):
    identity, recipient = age_key
    save(repo_path, tmp_path / "staging", "a1", "2024-06-01 10:00")
    pushed = run_module("bup_offsite", **offsite.args(repository=str(repo_path), recipients=[recipient]))
    assert not pushed.failed, pushed.get("msg")
    [pack_key] = [k for k in minio.objects(offsite.bucket) if k.endswith(".pack.age")]
    data = bytearray(minio.read(offsite.bucket, pack_key))
    data[-100] ^= 0x01
    minio.client().put_object(Bucket=offsite.bucket, Key=pack_key, Body=bytes(data))
    failed = run_module("bup_offsite", operation="pull",
                        **offsite.args(repository=str(tmp_path / "pulled"), identity_file=str(identity)))
    assert failed.failed and "age could not decrypt" in failed["msg"] and pack_key in failed["msg"]
    assert not (tmp_path / "pulled").exists()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_playbooks_push_and_pull_as_documented(minio, offsite, age_key, repo_path, tmp_path):
    """playbooks/offsite.yml then playbooks/offsite_pull.yml, credentials from the environment as docs/offsite.md
    says; the pulled repository lists the profile's complete archive."""
    identity, recipient = age_key
    staging = save(repo_path, tmp_path / "staging", "a1", "2024-06-01 10:00")
    recipients_file = tmp_path / "offsite.pub"
    recipients_file.write_text("# restore key\n" + recipient + "\n")
    age_dir = str(Path(offsite.age).parent)
    env = ansible_env({"AWS_ACCESS_KEY_ID": minio.access_key, "AWS_SECRET_ACCESS_KEY": minio.secret_key,
                       "PATH": age_dir + os.pathsep + os.environ["PATH"], "HOME": str(tmp_path / "home")})
    common = ["-e", f"bucket={offsite.bucket}", "-e", f"endpoint_url={minio.endpoint}", "-e", "addressing_style=path",
              "-e", "profile=sf", "-e", f"ansible_python_interpreter={sys.executable}"]
    root = Path(__file__).resolve().parents[3]

    def playbook(name, *extra):
        done = subprocess.run([str(VENV_BIN / "ansible-playbook"), str(root / "playbooks" / name), *common, *extra],
                              capture_output=True, text=True, env=env, check=False, timeout=900)
        assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
        return json.loads(done.stdout)

    pushed = playbook("offsite.yml", "-e", f"repository={repo_path}", "-e", f"recipients_file={recipients_file}")
    assert minio.secret_key not in json.dumps(pushed)
    assert any(k.startswith("statesafe/sf/packs/") for k in minio.objects(offsite.bucket))
    target = tmp_path / "bare" / "bup-offsite"
    pulled = playbook("offsite_pull.yml", "-e", f"repository={target}", "-e", f"identity_file={identity}")
    shown = pulled["plays"][0]["tasks"][-1]["hosts"]["localhost"]["msg"]
    assert "1 complete archives of sf" in shown, shown
    restored = subprocess.run(["bup", "restore", "-C", str(tmp_path / "restored"), "/sf/latest/."],
                              capture_output=True, text=True, env=dict(os.environ, BUP_DIR=str(target)), check=False,
                              timeout=120)
    assert restored.returncode == 0, restored.stderr
    assert tree_digest(tmp_path / "restored") == tree_digest(staging)
