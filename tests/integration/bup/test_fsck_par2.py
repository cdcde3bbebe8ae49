"""bup fsck finds a flipped byte in a pack; with par2 data generated beforehand, it repairs it."""

import os

from bup_helpers import tree_digest, write_tree


def flip_a_byte(repo):
    [pack] = sorted((repo / "objects" / "pack").glob("*.pack"), key=lambda p: -p.stat().st_size)[:1]
    with open(pack, "r+b") as handle:
        handle.seek(pack.stat().st_size // 2)
        byte = handle.read(1)
        handle.seek(-1, os.SEEK_CUR)
        handle.write(bytes([byte[0] ^ 0xFF]))
    return pack.name[:-len(".pack")]


def saved_repo(run_module, repo_path, tmp_path):
    staging = write_tree(tmp_path / "staging", {"dumps/db.sql": os.urandom(2 << 20)})
    assert run_module("bup_save", repository=str(repo_path), branch="sf", staging=str(staging),
                      manifest="MANIFEST.json")["complete"]
    return staging


def test_par2_generation_then_repair_of_a_damaged_pack(run_module, repo_path, tmp_path):
    staging = saved_repo(run_module, repo_path, tmp_path)
    clean = run_module("bup_fsck", repository=str(repo_path))
    assert clean["ok"] and not clean["changed"] and set(clean["packs"].values()) == {"ok"}

    checked = run_module("bup_fsck", check=True, repository=str(repo_path), par2_generate=True)
    assert not checked["changed"] and not list((repo_path / "objects" / "pack").glob("*.par2"))
    generated = run_module("bup_fsck", repository=str(repo_path), par2_generate=True)
    assert generated["changed"] and generated["par2_generated"] == sorted(generated["packs"])
    again = run_module("bup_fsck", repository=str(repo_path), par2_generate=True)
    assert not again["changed"] and set(again["packs"].values()) == {"exists"}

    damaged = flip_a_byte(repo_path)
    found = run_module("bup_fsck", repository=str(repo_path))
    assert found.failed and found["damaged"] == [damaged] and not found["ok"]
    assert f"bup fsck found damaged packs in {repo_path}: {damaged}" == found["msg"]
    assert run_module("bup_fsck", check=True, repository=str(repo_path), repair=True)["damaged"] == [damaged], \
        "check mode does not repair"

    repaired = run_module("bup_fsck", repository=str(repo_path), repair=True)
    assert not repaired.failed and repaired["repaired"] == [damaged] and repaired["fsck_rc"] == 100
    assert repaired["changed"] and repaired["ok"]
    assert run_module("bup_fsck", repository=str(repo_path))["ok"]
    target = tmp_path / "out"
    restored = run_module("bup_restore", repository=str(repo_path), branch="sf", target=str(target),
                          verify_manifest="MANIFEST.json")
    assert not restored.failed and tree_digest(target) == tree_digest(staging)


def test_without_par2_data_damage_is_found_but_not_repairable(run_module, repo_path, tmp_path):
    saved_repo(run_module, repo_path, tmp_path)
    damaged = flip_a_byte(repo_path)
    found = run_module("bup_fsck", repository=str(repo_path), quick=True)
    assert found.failed and found["damaged"] == [damaged]
    attempt = run_module("bup_fsck", repository=str(repo_path), repair=True)
    assert attempt.failed and attempt["damaged"] == [damaged] and attempt["repaired"] == []
    reported = run_module("bup_fsck", repository=str(repo_path), fail_on_error=False)
    assert not reported.failed and not reported["ok"]
