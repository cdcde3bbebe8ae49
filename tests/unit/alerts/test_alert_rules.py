"""alerts/statesafe.rules.yml: valid for Prometheus (promtool check rules) and alerting when it should (promtool test rules).

promtool comes from Debian's `prometheus` package (tests/cluster/install-deps.sh installs it); without it these
tests fail rather than skip.
"""
import shutil
import subprocess
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[2]
RULES = ROOT / "alerts" / "statesafe.rules.yml"
RULE_TESTS = HERE / "statesafe.rules.test.yml"


@pytest.fixture(scope="module")
def promtool():
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool not found: install Debian's prometheus package (tests/cluster/install-deps.sh)")
    return path


def run(*argv, cwd=None):
    return subprocess.run(list(argv), capture_output=True, text=True, check=False, cwd=cwd, timeout=300)


def test_rules_are_valid(promtool):
    result = run(promtool, "check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 3 rules found" in result.stdout


def test_rules_alert_when_they_should(promtool):
    result = run(promtool, "test", "rules", str(RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_tests_catch_a_wrong_threshold(promtool, tmp_path):
    """The rule tests are not vacuous: the same tests against a 30 h threshold fail."""
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "statesafe.rules.yml").write_text(RULES.read_text().replace("> 26 * 3600", "> 30 * 3600"))
    tests_dir = tmp_path / "tests" / "unit" / "alerts"
    tests_dir.mkdir(parents=True)
    shutil.copy(RULE_TESTS, tests_dir / RULE_TESTS.name)
    result = run(promtool, "test", "rules", str(tests_dir / RULE_TESTS.name))
    assert result.returncode != 0
    assert "StatesafeBackupTooOld" in result.stdout + result.stderr
