"""revisions: durations, revision hashing, the probe plan and the run-or-skip decision."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.capture import revisions as rev
from ansible_collections.statesafe.backup.plugins.module_utils.errors import InvalidInput

NOW = 1_800_000_000.0
COMMIT = "4a11d5455a3e213f1ec217d217f43615cd4cf890"
REVS = {"config": "sha256:aa", "mariadb": "sha256:bb", "zookeeper": "sha256:cc"}


def state(revisions=None, age=7200.0, **extra):
    doc = {"version": 1, "profile": "softwarefactory", "namespace": "sf", "branch": "softwarefactory",
           "archive": {"commit": COMMIT}, "time": NOW - age, "revisions": dict(REVS if revisions is None else revisions)}
    doc.update(extra)
    return doc


def decide(previous, current=None, **options):
    return rev.decide(previous, dict(REVS if current is None else current), NOW, "sf", "softwarefactory", **options)


@pytest.mark.parametrize("value, seconds", [
    (0, 0), (None, 0), ("", 0), (90, 90), ("90", 90), ("30m", 1800), ("6h", 21600), ("1d", 86400), ("1w", 604800),
    ("1h30m", 5400), (" 2H ", 7200), (3600.0, 3600),
])
def test_parse_duration(value, seconds):
    assert rev.parse_duration(value) == seconds


@pytest.mark.parametrize("value", ["6x", "h", "-5", -5, True, "1.5h", "1h 30", 1.5])
def test_parse_duration_refuses(value):
    with pytest.raises(InvalidInput, match="min_interval"):
        rev.parse_duration(value)


def test_format_duration():
    assert rev.format_duration(0) == "0s"
    assert rev.format_duration(93784) == "1d 2h 3m 4s"
    assert rev.format_duration(3600) == "1h"


def rendered(*files):
    return [(path, {}, data, False) for path, data in files]


def test_resources_revision_is_order_free_and_sees_every_change():
    base = rendered(("ConfigMap/a.yaml", b"x: 1\n"), ("Secret/b.yaml", b"y: 2\n"))
    same = rev.resources_revision(list(reversed(base)))
    assert rev.resources_revision(base) == same
    edited = rendered(("ConfigMap/a.yaml", b"x: 2\n"), ("Secret/b.yaml", b"y: 2\n"))
    deleted = rendered(("ConfigMap/a.yaml", b"x: 1\n"))
    added = base + rendered(("ConfigMap/c.yaml", b"z: 3\n"))
    renamed = rendered(("ConfigMap/a2.yaml", b"x: 1\n"), ("Secret/b.yaml", b"y: 2\n"))
    found = {rev.resources_revision(r) for r in (base, edited, deleted, added, renamed)}
    assert len(found) == 5
    lines = "ConfigMap/a.yaml {0}\nSecret/b.yaml {1}\n".format(
        hashlib.sha256(b"x: 1\n").hexdigest(), hashlib.sha256(b"y: 2\n").hexdigest())
    assert same == "sha256:" + hashlib.sha256(lines.encode()).hexdigest()


def test_output_revision():
    assert rev.output_revision("lsn 42\n") == rev.output_revision(b"  lsn 42")
    assert rev.output_revision("lsn 42") != rev.output_revision("lsn 43")
    with pytest.raises(ValueError, match="printed nothing"):
        rev.output_revision(" \n")


def test_probe_plan():
    components = [
        {"name": "config", "type": "resources", "resources": [{"kind": "Secret", "label_selectors": ["a=b"]}]},
        {"name": "db", "type": "dump", "pod": "db-0", "container": "db", "command": "dump",
         "revision": {"command": "lsn"}},
        {"name": "zk", "type": "volume", "claim": "data", "revision": {"pod": "zk-0", "container": "c", "command": "p",
                                                                       "timeout": 5}},
        {"name": "keys", "type": "dump", "pod": "zk-0", "command": "export"},
    ]
    plan = rev.probe_plan(components)
    assert [p["method"] for p in plan] == ["resources", "exec", "exec", "none"]
    assert plan[0]["selections"] == [{"kind": "Secret", "label_selectors": ["a=b"], "api_version": "v1",
                                      "optional": False, "references": []}]
    assert (plan[1]["pod"], plan[1]["container"], plan[1]["timeout"]) == ("db-0", "db", rev.DEFAULT_PROBE_TIMEOUT)
    assert (plan[2]["pod"], plan[2]["container"], plan[2]["timeout"]) == ("zk-0", "c", 5)


@pytest.mark.parametrize("spec, message", [
    ("SELECT 1", "mapping with a command"),
    ({"pod": "x"}, "mapping with a command"),
    ({"command": "x", "user": "root"}, "unknown keys: user"),
    ({"command": "x", "timeout": 0}, "timeout"),
])
def test_probe_plan_refuses(spec, message):
    with pytest.raises(InvalidInput, match=message):
        rev.probe_plan([{"name": "db", "type": "dump", "pod": "db-0", "revision": spec}])


def test_probe_plan_volume_needs_a_pod():
    with pytest.raises(InvalidInput, match="zk \\(volume\\): revision needs a pod"):
        rev.probe_plan([{"name": "zk", "type": "volume", "claim": "data", "revision": {"command": "p"}}])


def test_unchanged_is_skipped_and_says_which_archive_and_components():
    got = decide(state(), skip_unchanged=True)
    assert (got["run"], got["skipped_by"], got["unchanged"]) == (False, "unchanged", True)
    assert got["compared"] == ["config", "mariadb", "zookeeper"]
    assert COMMIT[:12] in got["reason"] and got["since"] in got["reason"]
    assert "config, mariadb, zookeeper" in got["reason"]


def test_one_changed_component_runs_and_is_named():
    got = decide(state(), dict(REVS, mariadb="sha256:new"), skip_unchanged=True)
    assert got["run"] and got["skipped_by"] is None and not got["unchanged"]
    assert got["changed"] == [{"name": "mariadb", "why": "revision changed"}]
    assert "mariadb (revision changed)" in got["reason"]


@pytest.mark.parametrize("previous, current, why", [
    (REVS, dict(REVS, zookeeper=None), "no revision"),
    (dict(REVS, zookeeper=None), dict(REVS, zookeeper=None), "no revision"),
    (dict(REVS, zookeeper=None), REVS, "the archive recorded no revision"),
    ({"config": "sha256:aa", "mariadb": "sha256:bb"}, REVS, "not in the archive"),
    (dict(REVS, old="sha256:dd"), REVS, "no longer in the profile"),
])
def test_component_without_probe_or_unmatched_always_runs(previous, current, why):
    got = decide(state(previous), current, skip_unchanged=True)
    assert got["run"] and not got["unchanged"]
    assert why in got["reason"]


@pytest.mark.parametrize("previous, problem", [
    (None, "no complete archive is recorded"),
    ({}, "no complete archive is recorded"),
    (state(version=2), "version 2"),
    (state(archive={}), "names no archive"),
    (state(time="yesterday"), "no time"),
    (state(revisions=None) | {"revisions": None}, "no revisions"),
    (state(namespace="other"), "of namespace other, not sf"),
    (state(branch="other"), "of branch other"),
])
def test_missing_or_unusable_state_runs(previous, problem):
    got = decide(previous, skip_unchanged=True, min_interval=3600)
    assert got["run"] and not got["unchanged"] and got["archive"] is None
    assert problem in got["reason"]


def test_min_interval_skips_and_says_when_the_next_run_may_happen():
    got = decide(state(age=600), dict(REVS, mariadb="sha256:new"), min_interval=3600)
    assert (got["run"], got["skipped_by"]) == (False, "min_interval")
    assert not got["unchanged"]
    assert got["next_allowed"] == rev.iso_time(NOW - 600 + 3600)
    assert got["next_allowed"] in got["reason"] and "10m old" in got["reason"] and "1h" in got["reason"]


def test_min_interval_passed_runs_without_skip_unchanged():
    got = decide(state(age=3600), min_interval=3600)
    assert got["run"] and got["unchanged"]
    assert "at least min_interval 1h" in got["reason"]


def test_min_interval_and_skip_unchanged_together():
    assert decide(state(age=600), min_interval=3600, skip_unchanged=True)["skipped_by"] == "min_interval"
    assert decide(state(age=7200), min_interval=3600, skip_unchanged=True)["skipped_by"] == "unchanged"
    assert decide(state(age=7200), dict(REVS, config="sha256:x"), min_interval=3600, skip_unchanged=True)["run"]


def test_force_runs_whatever_and_still_compares():
    got = decide(state(age=60), force=True, skip_unchanged=True, min_interval=3600)
    assert got["run"] and got["skipped_by"] is None and got["unchanged"]
    assert "forced" in got["reason"]


def test_without_options_every_run_backs_up():
    got = decide(state())
    assert got["run"] and got["unchanged"]


def test_nothing_to_compare_is_not_unchanged():
    got = rev.decide(state({}), {}, NOW, "sf", "softwarefactory", skip_unchanged=True)
    assert got["run"] and not got["unchanged"]


def test_read_state(tmp_path):
    assert rev.read_state(str(tmp_path / "missing.json")) == (None, None)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(state()))
    assert rev.read_state(str(good)) == (state(), None)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    document, problem = rev.read_state(str(bad))
    assert document is None and "cannot be read" in problem and str(bad) in problem


def test_archive_still_complete(tmp_path):
    assert not rev.archive_still_complete(str(tmp_path), "sf", COMMIT)
    loose = tmp_path / "refs" / "tags" / "complete" / "sf" / COMMIT
    loose.parent.mkdir(parents=True)
    loose.write_text(COMMIT + "\n")
    assert rev.archive_still_complete(str(tmp_path), "sf", COMMIT)
    loose.unlink()
    (tmp_path / "packed-refs").write_text("# pack-refs with: peeled\n{0} refs/tags/complete/sf/{0}\n".format(COMMIT))
    assert rev.archive_still_complete(str(tmp_path), "sf", COMMIT)
    assert not rev.archive_still_complete(str(tmp_path), "other", COMMIT)
