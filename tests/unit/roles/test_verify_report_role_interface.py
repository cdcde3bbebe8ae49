"""The profiles' optional `check` list is data verify can read, and playbooks/backup.yml reports in `always`.
"""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[3]
PROFILES = sorted((ROOT / "profiles").glob("*.yml"))


@pytest.mark.parametrize("profile", PROFILES, ids=lambda p: p.stem)
def test_profile_checks_are_data_verify_can_run(profile):
    checks = yaml.safe_load(profile.read_text()).get("check", [])
    assert isinstance(checks, list)
    for check in checks:
        assert check.get("name"), check
        assert ("pod" in check) != ("local" in check), check["name"]
        if "pod" in check:
            assert ("command" in check) != ("argv" in check), check["name"]
        else:
            assert isinstance(check["local"], list) and check["local"], check["name"]
        assert check.get("compare", "source") == "source", check["name"]


def test_backup_playbook_reports_in_always_and_still_fails():
    play = yaml.safe_load((ROOT / "playbooks" / "backup.yml").read_text())[-1]  # after the target's check
    block = next(task for task in play["tasks"] if "block" in task)
    assert [t["ansible.builtin.include_role"]["name"] for t in block["block"]] == ["statesafe.backup.backup"]
    assert [t["ansible.builtin.include_role"]["name"] for t in block["always"]] == ["statesafe.backup.report"]
    assert play["tasks"][-1]["when"] == "__playbook_failure is defined"
    assert "ansible.builtin.fail" in play["tasks"][-1]


def test_the_trial_restore_copies_volumes_with_verify_helper_image():
    """verify_helper_image is what the trial restore's helper pods run (the restore role's own helper image is
    proven on the cluster by tests/integration/roles/test_helper_image_roles.py)."""
    tasks = yaml.safe_load((ROOT / "roles" / "verify" / "tasks" / "trial.yml").read_text())
    block = next(task for task in tasks if "block" in task)
    [restore] = [t for t in block["block"] if t.get("ansible.builtin.include_role", {}).get("name")
                 == "statesafe.backup.restore"]
    assert restore["vars"]["restore_helper_image"] == "{{ verify_helper_image }}"
    spec = yaml.safe_load((ROOT / "roles" / "verify" / "meta" / "argument_specs.yml").read_text())
    assert "verify_helper_image" in spec["argument_specs"]["main"]["options"]
