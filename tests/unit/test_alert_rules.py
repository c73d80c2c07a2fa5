"""The alert rules are valid Prometheus rules, each fires when it should and not before (promtool's own
rule tests), and each reads only metrics the platform exposes."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from gateway.metrics import DispatcherMetrics, PlatformState
from inference_core.metrics import watch_queues
from model_runtime.metrics import WorkerMetrics

OBSERVABILITY = Path(__file__).resolve().parents[2] / "observability"


def exposed() -> set[str]:
    """The metric families the dispatcher and a worker expose (the gateway's HTTP server's are not alerted on)."""
    dispatcher, worker = DispatcherMetrics(), WorkerMetrics("m")
    dispatcher.watch(lambda: PlatformState(0, 0.0, {}, []))
    watch_queues(dispatcher.registry, [])
    return {family.name for registry in (dispatcher.registry, worker.registry) for family in registry.collect()}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("promtool")
    if executable is None:
        pytest.fail("promtool is missing: `make venvs` installs it (Debian's prometheus package)")
    return subprocess.run([executable, *args], cwd=OBSERVABILITY, capture_output=True, text=True, timeout=60)


def test_the_rules_are_valid() -> None:
    checked = promtool("check", "rules", "alerts.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 5 rules found" in checked.stdout


def test_each_alert_fires_when_it_should_and_not_before() -> None:
    tested = promtool("test", "rules", "alerts.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr


def test_every_alert_is_tested_and_reads_metrics_the_platform_exposes() -> None:
    rules = [r for g in yaml.safe_load((OBSERVABILITY / "alerts.yaml").read_text())["groups"] for r in g["rules"]]
    tests = yaml.safe_load((OBSERVABILITY / "alerts.test.yaml").read_text())["tests"]
    tested = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    assert tested == {rule["alert"] for rule in rules}
    known = exposed()
    for rule in rules:
        selectors = re.sub(r"\b(by|without)\s*\([^)]*\)", "", rule["expr"])  # not the labels grouped by
        names = set(re.findall(r"\b([a-z_]+)\s*[{)]", selectors)) - {"max", "min", "sum", "avg"}
        assert names and names <= known, (rule["alert"], names - known)
