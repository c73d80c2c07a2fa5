"""The monitoring job's chart renders a valid hourly CronJob, and its schema refuses wrong values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

CHART = Path(__file__).resolve().parents[2] / "helm" / "monitoring-job"
KUBERNETES_VERSION = "1.30.0"


def render(values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = helm.Chart.load(CHART).render(values, name="release", namespace="inference")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


def test_the_default_values_render_a_valid_hourly_cronjob() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert helm.lint(str(CHART), values, strict=False)["errors"] == []
    manifests = render(values)
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    (cronjob,) = manifests
    spec = cronjob["spec"]
    assert (spec["schedule"], spec["concurrencyPolicy"]) == ("0 * * * *", "Forbid")
    assert spec["startingDeadlineSeconds"] > 0 and spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["args"] == ["run"]


@pytest.mark.parametrize(
    "wrong",
    [{"concurrencyPolicy": "Sometimes"}, {"schedule": "hourly"}, {"startingDeadlineSeconds": "ten"}],
    ids=["policy", "schedule", "deadline"],
)
def test_wrong_values_fail_at_render_not_at_run_time(wrong: dict[str, Any]) -> None:
    values = {**yaml.safe_load((CHART / "values.yaml").read_text()), **wrong}
    with pytest.raises(Exception, match="schema"):
        render(values)
