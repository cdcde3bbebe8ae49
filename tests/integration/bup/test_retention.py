"""Retention against real bup: the policy decides, incomplete archives never count, markers follow rewrites."""

import calendar
import json
import os
import time

import pytest
from bup_helpers import bup, git, markers, tree_digest, write_tree

from ansible_collections.statesafe.backup.plugins.module_utils.bup import operations as bup_ops
from ansible_collections.statesafe.backup.plugins.module_utils.bup import repository as bup_repository

UTC = {"TZ": "UTC"}
WRT = calendar.timegm((2024, 6, 30, 12, 0, 0))


@pytest.fixture(autouse=True)
def utc_here(monkeypatch):
    """bup names saves and groups days in local time; pin it so the expectations hold anywhere."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def at(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M"))


def save(repo_path, tmp_path, label, when, complete=True):
    """One archive through the module_utils, with 64 KiB of its own data so removing it frees space."""
    staging = write_tree(tmp_path / "staging" / label, {"label.txt": label.encode(), "unique.bin": os.urandom(65536)})
    if not complete:  # the manifest disagrees with the data: saved, validated, not marked
        data = json.loads((staging / "MANIFEST.json").read_text())
        data["artifacts"][0]["size"] += 1
        (staging / "MANIFEST.json").write_text(json.dumps(data))
    params = {"repository": str(repo_path), "branch": "sf", "staging": str(staging), "manifest": "MANIFEST.json",
              "date": at(when), "lock_timeout": 5}
    result = bup_ops.run_save(bup_repository.repository_from_params(params), params)
    assert result["complete"] is complete
    return staging


SAVES = [  # label, date, complete, kept by keep_all_for=1d dailies=7d weeklies=4w monthlies=6m at WRT
    ("s01", "2024-06-30 10:00", True, True),     # within keep_all_for
    ("s02", "2024-06-30 02:00", False, False),   # incomplete
    ("s03", "2024-06-29 20:00", True, True),     # within keep_all_for
    ("s04", "2024-06-28 22:00", False, False),   # incomplete, and must not displace s05
    ("s05", "2024-06-28 08:00", True, True),     # newest complete of 28 June
    ("s06", "2024-06-28 01:00", True, False),    # older the same day
    ("s07", "2024-06-25 12:00", True, True),     # newest of 25 June
    ("s08", "2024-06-12 12:00", True, True),     # newest of ISO week 24
    ("s09", "2024-06-11 12:00", True, False),    # older the same week
    ("s10", "2024-06-04 12:00", True, True),     # newest of ISO week 23
    ("s11", "2024-05-15 12:00", True, True),     # newest of May
    ("s12", "2024-05-10 12:00", True, False),    # older the same month
    ("s13", "2023-01-01 12:00", True, False),    # older than every period
]
POLICY = {"keep_all_for": "1d", "keep_dailies_for": "7d", "keep_weeklies_for": "4w", "keep_monthlies_for": "6m"}


def archives(run_module, repo_path):
    return run_module("bup_archive_info", env=UTC, repository=str(repo_path), branch="sf")["archives"]


def test_retention_keeps_what_the_policy_says(run_module, repo_path, tmp_path):
    stagings = {}
    for label, when, complete, _kept in reversed(SAVES):
        stagings[label] = save(repo_path, tmp_path, label, when, complete)
    before = archives(run_module, repo_path)
    assert len(before) == 13 and len(markers(repo_path)) == 11
    refs_before = git(repo_path, "for-each-ref")

    plan = run_module("bup_retention", check=True, env=UTC, repository=str(repo_path), branch="sf", wrt=WRT,
                      **POLICY)
    assert plan["changed"] and not plan["gc"]
    assert git(repo_path, "for-each-ref") == refs_before, "check mode changed nothing"
    by_commit = dict((a["commit"], a) for a in before)
    labels = dict((a["commit"], label) for a, (label, *_rest) in zip(before, SAVES))
    assert sorted(labels[a["commit"]] for a in plan["removed"]) == sorted(s[0] for s in SAVES if not s[3])
    reasons = dict((labels[a["commit"]], a["reason"]) for a in plan["removed"] + plan["kept"])
    assert reasons["s04"] == "incomplete (never validated and marked)"
    assert reasons["s06"] == "not the newest of its day (dailies)"
    assert reasons["s09"] == "not the newest of its ISO week (weeklies)"
    assert reasons["s08"] == "newest of its ISO week (weeklies)"

    done = run_module("bup_retention", env=UTC, repository=str(repo_path), branch="sf", wrt=WRT, **POLICY)
    assert done["changed"] and done["gc"] and not done.failed
    assert done["bytes_freed"] > 6 * 65536, "the removed archives' own data is gone"
    after = archives(run_module, repo_path)
    kept = [(label, when) for label, when, _complete, kept in SAVES if kept]
    assert [a["timestamp"] for a in after] == [at(when) for _label, when in kept]
    assert all(a["complete"] for a in after), "every kept archive is still marked, under its rewritten id"
    assert sorted(markers(repo_path)) == sorted("refs/tags/complete/sf/" + a["commit"] for a in after)
    assert done["markers_moved"] + done["markers_deleted"] >= 1
    for archive in after:  # trees are what was saved, ids changed where bup rm rewrote history
        old = [b for b in before if b["timestamp"] == archive["timestamp"]][0]
        assert archive["tree"] == old["tree"]
    kept_times = [a["timestamp"] for a in after]
    old_ids = set(c for c in by_commit if by_commit[c]["timestamp"] in kept_times)
    assert set(a["commit"] for a in after) != old_ids, "history was rewritten"
    # Every kept archive whose id changed is found under its old id: what a backup that saved it reports.
    for archive in after:
        old = [b["commit"] for b in before if b["timestamp"] == archive["timestamp"]][0]
        assert done["rewritten"].get(old, old) == archive["commit"], (old, archive["commit"], done["rewritten"])
    assert done["rewritten"], "bup rm rewrote commits, and none was reported"
    git(repo_path, "fsck", "--connectivity-only", "--no-dangling")
    assert run_module("bup_fsck", repository=str(repo_path))["ok"]

    target = tmp_path / "oldest"
    restored = run_module("bup_restore", env=UTC, repository=str(repo_path), branch="sf", archive="2024-05-15",
                          target=str(target), verify_manifest="MANIFEST.json")
    assert not restored.failed, restored.get("msg")
    assert tree_digest(target) == tree_digest(stagings["s11"])

    again = run_module("bup_retention", env=UTC, repository=str(repo_path), branch="sf", wrt=WRT, **POLICY)
    assert not again["changed"] and again["removed"] == [] and not again["gc"]


def test_keep_incomplete_keeps_them_without_giving_them_a_slot(run_module, repo_path, tmp_path):
    save(repo_path, tmp_path, "good", "2024-06-28 08:00")
    save(repo_path, tmp_path, "broken", "2024-06-28 22:00", complete=False)
    result = run_module("bup_retention", env=UTC, repository=str(repo_path), branch="sf", wrt=WRT,
                        keep_dailies_for="7d", keep_incomplete=True)
    assert not result["changed"] and len(archives(run_module, repo_path)) == 2


def test_the_newest_complete_archive_survives_any_policy(run_module, repo_path, tmp_path):
    # dated out of commit order on purpose: "newest" means by date, not by position on the branch
    save(repo_path, tmp_path, "ancient", "2020-01-01 00:00")
    save(repo_path, tmp_path, "older", "2019-01-01 00:00")
    save(repo_path, tmp_path, "broken", "2024-06-30 11:00", complete=False)
    result = run_module("bup_retention", env=UTC, repository=str(repo_path), branch="sf", wrt=WRT,
                        keep_all_for="1h")
    left = archives(run_module, repo_path)
    assert [(a["date"], a["complete"]) for a in left] == [("2020-01-01T00:00:00Z", True)]
    assert [a["reason"] for a in result["kept"]] == ["newest complete archive (always kept)"]


def test_same_decisions_as_bup_prune_older_when_all_are_complete(run_module, repo_path, tmp_path):
    for label, when, _complete, _kept in reversed(SAVES):
        save(repo_path, tmp_path, label, when)
    policy = ("--keep-all-for", "1d", "--keep-dailies-for", "7d", "--keep-monthlies-for", "6m")
    pretend = bup(repo_path, "prune-older", "--unsafe", "--pretend", "--wrt", str(WRT), *policy, "sf").stdout
    bup_keeps = sorted(line[2:].split("/", 1)[1] for line in pretend.splitlines() if line.startswith("+ "))
    plan = run_module("bup_retention", check=True, env=UTC, repository=str(repo_path), branch="sf", wrt=WRT,
                      keep_all_for="1d", keep_dailies_for="7d", keep_monthlies_for="6m")
    assert sorted(a["name"] for a in plan["kept"]) == bup_keeps
    assert len(bup_keeps) < len(SAVES), "the policy does remove something, so the comparison means something"


def test_invalid_policies_fail_before_touching_anything(run_module, repo_path):
    result = run_module("bup_retention", repository=str(repo_path), keep_dailies_for="30d", keep_weeklies_for="2w")
    assert result.failed and "keep_weeklies_for (2w) is shorter than keep_dailies_for (30d)" in result["msg"]
    assert f"repository={repo_path}" in result["msg"]
    bad = run_module("bup_retention", repository=str(repo_path), keep_dailies_for="thirty days")
    assert bad.failed and "is not a period" in bad["msg"]
    none = run_module("bup_retention", repository=str(repo_path))
    assert none.failed and "one of the following is required" in none["msg"]


def test_save_names_are_the_ones_bup_uses(run_module, repo_path, tmp_path):
    for _n in range(3):
        save(repo_path, tmp_path, "same-second-{0}".format(_n), "2024-06-30 10:00")
    save(repo_path, tmp_path, "later", "2024-06-30 10:01")
    listed = [(a["commit"], a["name"]) for a in archives(run_module, repo_path)]
    from_bup = bup(repo_path, "ls", "--commit-hash", "/sf").stdout.split("\n")
    expected = [tuple(line.split(" ", 1)) for line in from_bup if line and not line.endswith(" latest")]
    assert sorted(listed) == sorted(expected)
    assert sorted(name for _c, name in listed) == ["2024-06-30-100000-0", "2024-06-30-100000-1",
                                                   "2024-06-30-100000-2", "2024-06-30-100100"]
