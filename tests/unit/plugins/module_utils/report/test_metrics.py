"""backup_metrics: metrics text, carried-over values, failed step and the webhook document."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.statesafe.backup.plugins.module_utils.report import metrics as bm

LABELS = {"profile": "softwarefactory", "namespace": "sf"}
COMPONENTS = ["config", "mariadb", "zookeeper"]


def success_run(**extra):
    run = {"profile": "softwarefactory", "namespace": "sf", "status": "success", "started": 1000.0,
           "finished": 1042.5, "components": COMPONENTS,
           "steps": [{"component": "config", "duration": 1.5}, {"component": "mariadb", "duration": 3.0},
                     {"component": "zookeeper", "duration": 2.25}],
           "summary": {"bytes": 1000, "bytes_added": 250, "artifacts": 7, "commit": "ab" * 20}}
    run.update(extra)
    return run


def failed_run(task, done=(), error="boom"):
    return {"profile": "softwarefactory", "namespace": "sf", "status": "failure", "started": 2000.0,
            "finished": 2005.0, "components": COMPONENTS, "steps": [{"component": c, "duration": 1} for c in done],
            "failed_task": task, "error": error}


def values(text):
    return {(name, tuple(sorted(labels.items()))): value for name, labels, value in bm.parse_samples(text)}


def key(suffix, **labels):
    merged = dict(LABELS, **labels)
    return (bm.PREFIX + suffix, tuple(sorted(merged.items())))


def test_success_metrics():
    text = bm.render(bm.run_samples(success_run()), LABELS)
    got = values(text)
    assert got[key("success")] == 1
    assert got[key("last_success_timestamp_seconds")] == 1042.5
    assert got[key("last_run_timestamp_seconds")] == 1042.5
    assert got[key("duration_seconds")] == 42.5
    assert got[key("bytes_staged")] == 1000 and got[key("bytes_added")] == 250
    assert got[key("dedup_ratio")] == 0.75
    assert got[key("artifacts")] == 7
    for step in ["preflight"] + COMPONENTS + ["manifest", "save"]:
        assert got[key("step_status", step=step)] == 1
    assert got[key("step_duration_seconds", step="mariadb")] == 3.0
    assert key("last_failure_timestamp_seconds") not in got
    assert "# TYPE statesafe_backup_success gauge" in text
    assert text.endswith("\n")


def test_every_sample_line_is_valid_exposition():
    text = bm.render(bm.run_samples(success_run()), LABELS)
    for line in text.splitlines():
        assert line.startswith("# HELP ") or line.startswith("# TYPE ") or bm._SAMPLE.match(line), line


@pytest.mark.parametrize("task, done, failed, not_run", [
    ("Preflight | the API answers, the namespace exists", [], "preflight", ["config", "save"]),
    ("Capture | components, in the profile's order", ["config"], "mariadb", ["zookeeper", "manifest", "save"]),
    ("Dump | mariadb", ["config"], "mariadb", ["zookeeper", "manifest", "save"]),
    ("Volume | zookeeper", ["config", "mariadb"], "zookeeper", ["manifest", "save"]),
    ("Capture | post-hooks, always (a freeze is always released)", COMPONENTS, "capture", ["manifest", "save"]),
    ("Save | save, validate against the manifest, mark complete", COMPONENTS, "save", []),
    ("Manifest | MANIFEST.json, written last", COMPONENTS, "manifest", ["save"]),
    ("Lock | repository, then this run's lease", [], "lock", ["config", "manifest", "save"]),
    ("something else", COMPONENTS, "run", []),
])
def test_failed_step_and_steps_not_run(task, done, failed, not_run):
    statuses = {step: status for step, status, _seconds in bm.step_statuses(failed_run(task, done))}
    assert statuses[failed] == 0
    assert [step for step, status in statuses.items() if status == 0] == [failed]
    for step in not_run:
        assert statuses[step] == -1
    for step in done:
        assert statuses[step] == 1


def test_failure_carries_over_the_last_success():
    previous = bm.render(bm.run_samples(success_run()), LABELS)
    carried = bm.carry_over(previous, LABELS)
    assert carried["last_success_timestamp_seconds"] == 1042.5 and carried["bytes_added"] == 250
    text = bm.render(bm.run_samples(failed_run("Preflight | x"), carried), LABELS)
    got = values(text)
    assert got[key("success")] == 0
    assert got[key("last_success_timestamp_seconds")] == 1042.5
    assert got[key("last_failure_timestamp_seconds")] == 2005
    assert got[key("last_run_timestamp_seconds")] == 2005
    assert got[key("bytes_added")] == 250
    # ... and the next success keeps the last failure time.
    again = bm.run_samples(success_run(finished=3000.0), bm.carry_over(text, LABELS))
    assert values(bm.render(again, LABELS))[key("last_failure_timestamp_seconds")] == 2005


def test_carry_over_only_reads_the_same_labels():
    other = bm.render(bm.run_samples(success_run()), {"profile": "other", "namespace": "sf"})
    assert bm.carry_over(other, LABELS) == {}
    assert bm.carry_over("garbage\n# comment\nstatesafe_backup_bytes_added{x} nope\n", LABELS) == {}


def test_first_failure_has_no_last_success():
    got = values(bm.render(bm.run_samples(failed_run("Preflight | x")), LABELS))
    assert key("last_success_timestamp_seconds") not in got


def test_dedup_ratio_edges():
    nothing_staged = values(bm.render(bm.run_samples(success_run(summary={"bytes": 0, "bytes_added": 5})), LABELS))
    assert nothing_staged[key("dedup_ratio")] == 0
    remote = values(bm.render(bm.run_samples(success_run(summary={"bytes": 10, "bytes_added": None})), LABELS))
    assert key("dedup_ratio") not in remote and key("bytes_added") not in remote


@pytest.mark.parametrize("value, text", [(True, "1"), (3, "3"), (2.0, "2"), (0.25, "0.25"), (float("nan"), "NaN")])
def test_format_value(value, text):
    assert bm.format_value(value) == text


def test_label_escaping_round_trips():
    labels = {"profile": 'we"ird\\name\n', "namespace": "sf"}
    text = bm.render([("success", {}, 1)], labels)
    assert bm.parse_samples(text)[0][1] == labels


def test_pushgateway_path():
    assert bm.pushgateway_path("statesafe_backup", LABELS) == \
        "/metrics/job/statesafe_backup/namespace/sf/profile/softwarefactory"
    assert bm.pushgateway_path("j", {"a": "x/y", "b": ""}) == "/metrics/job/j/a@base64/eC95/b@base64/="


def test_textfile_name():
    assert bm.textfile_name("softwarefactory", "sf") == "statesafe_backup_softwarefactory_sf.prom"
    assert bm.textfile_name("a/b", "c d") == "statesafe_backup_a_b_c_d.prom"


def test_notification_names_step_and_reason_and_masks_secrets():
    run = failed_run("Capture | components", ["config"], error="mariadb-dump: access denied for pw=hunter2")
    document = bm.notification(run, host="backup1", secrets=["hunter2"])
    assert document["status"] == "failure" and document["event"] == "backup_failure"
    assert document["failed_step"] == "mariadb"
    assert "hunter2" not in str(document)
    assert "********" in document["reason"]
    assert document["text"].startswith("statesafe backup of softwarefactory in namespace sf FAILED at step mariadb")
    assert {"step": "zookeeper", "status": "not run"} in document["steps"]


def test_should_notify():
    assert bm.should_notify("failure", "failure") and not bm.should_notify("failure", "success")
    assert bm.should_notify("always", "success") and not bm.should_notify("never", "failure")


def skipped_run(unchanged=True, finished=5000.0):
    reason = "skipped: nothing changed since the last complete archive 4a11d5455a3e of 2026-11-21T10:00:00Z"
    return {"profile": "softwarefactory", "namespace": "sf", "status": "skipped", "started": finished - 3,
            "finished": finished, "components": COMPONENTS, "steps": [],
            "summary": {"skipped": True, "unchanged": unchanged, "reason": reason}}


def test_success_marks_the_archive_current():
    got = values(bm.render(bm.run_samples(success_run()), LABELS))
    assert got[key("last_current_timestamp_seconds")] == 1042.5
    assert got[key("skipped")] == 0


def test_skipped_unchanged_run_is_no_failure_and_proves_the_archive_current():
    carried = bm.carry_over(bm.render(bm.run_samples(success_run()), LABELS), LABELS)
    got = values(bm.render(bm.run_samples(skipped_run(), carried), LABELS))
    assert got[key("success")] == 1 and got[key("skipped")] == 1
    assert got[key("last_run_timestamp_seconds")] == 5000
    # Nothing was saved: the last success and its sizes stay; the archive is known current now.
    assert got[key("last_success_timestamp_seconds")] == 1042.5
    assert got[key("bytes_added")] == 250 and got[key("artifacts")] == 7
    assert got[key("last_current_timestamp_seconds")] == 5000
    assert got[key("step_status", step="preflight")] == 1
    assert got[key("step_status", step="mariadb")] == -1 and got[key("step_status", step="save")] == -1


def test_interval_skip_that_saw_changes_keeps_the_last_proof():
    carried = bm.carry_over(bm.render(bm.run_samples(success_run()), LABELS), LABELS)
    got = values(bm.render(bm.run_samples(skipped_run(unchanged=False), carried), LABELS))
    assert got[key("skipped")] == 1
    assert got[key("last_current_timestamp_seconds")] == 1042.5
    # ... and a failure after it carries that over too.
    text = bm.render(bm.run_samples(skipped_run(), carried), LABELS)
    failed = values(bm.render(bm.run_samples(failed_run("Save | x"), bm.carry_over(text, LABELS)), LABELS))
    assert failed[key("last_current_timestamp_seconds")] == 5000 and failed[key("skipped")] == 0


def test_skipped_notification_and_failed_steps_of_new_phases():
    document = bm.notification(skipped_run())
    assert document["event"] == "backup_skipped" and document["failed_step"] is None
    assert document["text"].startswith("statesafe backup of softwarefactory in namespace sf skipped: skipped: nothing")
    assert not bm.should_notify("failure", "skipped") and bm.should_notify("always", "skipped")
    assert bm.failed_step("Changes | revisions of the components", COMPONENTS, {}) == "lock"
    assert bm.failed_step("State | this archive", COMPONENTS, {}) == "save"
