"""The alert rules are valid Prometheus rules, each fires when it should and not before (promtool's own
rule tests), and each reads only metrics the platform exposes."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from support.metrics import exposed_families, is_exposed, metrics_read_by

RULES = Path(__file__).resolve().parents[2] / "helm" / "inference-platform" / "files"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("promtool")
    if executable is None:
        pytest.fail("promtool is missing: `make venvs` installs it (Debian's prometheus package)")
    return subprocess.run([executable, *args], cwd=RULES, capture_output=True, text=True, timeout=60)


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", "alerts.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout


def test_each_alert_fires_when_it_should_and_not_before() -> None:
    tested = promtool("test", "rules", "alerts.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested_and_reads_metrics_the_platform_exposes() -> None:
    rules = [r for g in yaml.safe_load((RULES / "alerts.yaml").read_text())["groups"] for r in g["rules"]]
    tests = yaml.safe_load((RULES / "alerts.test.yaml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert tested == {rule["alert"] for rule in rules}
    known = exposed_families(http=False)  # the gateway's HTTP server is not alerted on
    for rule in rules:
        names = metrics_read_by(rule["expr"])
        assert names and all(is_exposed(name, known) for name in names), (rule["alert"], names)
