"""backup_revisions: what it returns is what it documents; without probes nothing touches the cluster."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import yaml

from ansible_collections.statesafe.backup.plugins.modules import backup_revisions

COMMIT = "4a11d5455a3e213f1ec217d217f43615cd4cf890"


def params(tmp_path, **extra):
    values = {"namespace": "sf", "components": [{"name": "keys", "type": "dump", "pod": "zk-0", "command": "x"}],
              "branch": "sf", "state_file": str(tmp_path / "state.json"), "repository": None,
              "skip_unchanged": True, "min_interval": "1h", "force": False}
    values.update(extra)
    return values


def test_returns_what_it_documents(tmp_path):
    result = backup_revisions.work(None, None, params(tmp_path))
    documented = yaml.safe_load(backup_revisions.RETURN)
    assert set(result) - {"changed"} == set(documented) - {"error_location"}
    assert set(result["decision"]) == set(documented["decision"]["contains"])
    assert set(result["probes"][0]) >= {"name", "type", "method", "error", "seconds"}


def test_component_without_probe_runs_and_no_state_is_no_problem(tmp_path):
    result = backup_revisions.work(None, None, params(tmp_path))
    assert result["revisions"] == {"keys": None}
    assert result["decision"]["run"] and result["problems"] == [] and result["min_interval"] == 3600


def test_state_whose_archive_is_no_longer_complete_is_not_used(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    (tmp_path / "state.json").write_text(json.dumps({
        "version": 1, "namespace": "sf", "branch": "sf", "archive": {"commit": COMMIT}, "time": 1.0,
        "revisions": {"keys": None}}))
    result = backup_revisions.work(None, None, params(tmp_path, repository=str(repo), min_interval=0))
    assert result["state"] == {} and result["decision"]["run"]
    assert "no longer marked complete" in result["problems"][0] and COMMIT in result["problems"][0]
