"""module_utils/etcd/decision.py: save or skip, by revision, files, min_interval and force."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput
from ansible_collections.statesafe.backup.plugins.module_utils.etcd import decision

NOW = 1_800_000_000.0
FILES = [{"path": "etc/kubernetes/pki/ca.crt", "sha256": "aa"}, {"path": "etc/kubernetes/admin.conf", "sha256": "bb"}]
DIGEST = decision.files_digest(FILES)


def state(**changes):
    base = {"version": 1, "branch": "etcd-cp1", "commit": "c0ffee" * 6 + "abcd", "time": NOW - 7200,
            "revision": 500, "files_digest": DIGEST}
    base.update(changes)
    return base


def decide(st, revision=500, digest=DIGEST, marker=True, **options):
    return decision.decide(st, revision, digest, NOW, "etcd-cp1", marker, **options)


@pytest.mark.parametrize("value, seconds", [(None, 0), ("", 0), (0, 0), (90, 90), ("90", 90), ("30m", 1800),
                                            ("6h", 21600), ("1d", 86400), ("1w", 604800), ("1h30m", 5400),
                                            (" 2H ", 7200)])
def test_intervals(value, seconds):
    assert decision.parse_interval(value) == seconds


@pytest.mark.parametrize("value", [True, "soon", "6x", -1, "1.5h"])
def test_intervals_refused(value):
    with pytest.raises(InvalidInput):
        decision.parse_interval(value)


def test_the_files_digest_ignores_order_and_sees_any_change():
    assert decision.files_digest(list(reversed(FILES))) == DIGEST
    assert decision.files_digest([dict(FILES[0], sha256="ab"), FILES[1]]) != DIGEST
    assert decision.files_digest(FILES[:1]) != DIGEST
    assert decision.files_digest([dict(FILES[0], path="etc/kubernetes/pki/ca2.crt"), FILES[1]]) != DIGEST


def test_unchanged_is_skipped():
    out = decide(state())
    assert (out["run"], out["skipped_by"], out["unchanged"], out["changes"]) == (False, "unchanged", True, [])
    assert "revision 500" in out["reason"] and "force=true" in out["reason"]


@pytest.mark.parametrize("revision, digest, why", [
    (501, DIGEST, "etcd revision 500 -> 501"),
    (500, "sha256:other", "saved files changed"),
])
def test_a_change_saves(revision, digest, why):
    out = decide(state(), revision=revision, digest=digest)
    assert out["run"] and out["skipped_by"] is None and not out["unchanged"]
    assert why in out["changes"] and why in out["reason"]


def test_unchanged_saves_when_skip_unchanged_is_off():
    out = decide(state(), skip_unchanged=False)
    assert out["run"] and out["unchanged"] and "skip_unchanged is false" in out["reason"]


def test_min_interval_skips_even_a_change_and_says_when_the_next_run_may_save():
    out = decide(state(), revision=900, min_interval=3 * 3600)
    assert (out["run"], out["skipped_by"], out["unchanged"]) == (False, "min_interval", False)
    assert out["next_allowed"] == decision.iso_time(NOW - 7200 + 3 * 3600)
    assert "2h old, less than min_interval 3h" in out["reason"]


def test_an_old_enough_archive_lets_a_change_save():
    out = decide(state(), revision=900, min_interval=3600)
    assert out["run"] and "revision 500 -> 900" in out["reason"]


def test_force_saves_whatever():
    out = decide(state(), min_interval=86400, force=True)
    assert out["run"] and out["unchanged"] and "forced" in out["reason"]


@pytest.mark.parametrize("st, marker, why", [
    ({}, True, "no complete archive is recorded"),
    (state(version=2), True, "version 2"),
    (state(branch="etcd-cp2"), True, "branch 'etcd-cp2'"),
    (state(commit=""), True, "names no archive"),
    (state(time="yesterday"), True, "no time"),
    (state(), False, "no longer marked complete"),
])
def test_without_a_usable_record_the_run_saves(st, marker, why):
    out = decide(st, marker=marker, min_interval=86400)
    assert out["run"] and why in out["reason"] and out["archive"] is None and not out["unchanged"]


def test_the_state_document_has_what_the_next_run_compares():
    doc = decision.state_document("etcd-cp1", "abc", NOW, 500, DIGEST, {"revision": 500, "hash": 1})
    assert decide(doc)["skipped_by"] == "unchanged"
    assert doc["created"] == decision.iso_time(NOW)
