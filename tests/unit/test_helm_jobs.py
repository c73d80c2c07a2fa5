"""The scheduled jobs' charts render valid CronJobs, and their schemas refuse wrong values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

HELM = Path(__file__).resolve().parents[2] / "helm"
KUBERNETES_VERSION = "1.30.0"
JOBS = {"monitoring-job": "0 * * * *", "annotation-sync": "*/10 * * * *"}  # chart -> its schedule


def values_of(chart: str) -> dict[str, Any]:
    return dict(yaml.safe_load((HELM / chart / "values.yaml").read_text()))


def render(chart: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    rendered = helm.Chart.load(HELM / chart).render(values, name="release", namespace="inference")
    return [doc for text in rendered.values() for doc in yaml.safe_load_all(text) if doc]


@pytest.mark.parametrize(("chart", "schedule"), JOBS.items())
def test_the_default_values_render_a_valid_cronjob_on_its_schedule(chart: str, schedule: str) -> None:
    values = values_of(chart)
    assert helm.lint(str(HELM / chart), values, strict=False)["errors"] == []
    manifests = render(chart, values)
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
    (cronjob,) = manifests
    spec = cronjob["spec"]
    assert (spec["schedule"], spec["concurrencyPolicy"]) == (schedule, "Forbid")
    assert spec["startingDeadlineSeconds"] > 0 and spec["jobTemplate"]["spec"]["activeDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1 and spec["failedJobsHistoryLimit"] >= 1
    pod = spec["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["restartPolicy"] == "Never" and pod["securityContext"]["runAsNonRoot"] is True
    assert pod["containers"][0]["args"] == ["run"]


@pytest.mark.parametrize("chart", JOBS)
@pytest.mark.parametrize(
    "wrong",
    [{"concurrencyPolicy": "Sometimes"}, {"schedule": "hourly"}, {"startingDeadlineSeconds": "ten"}],
    ids=["policy", "schedule", "deadline"],
)
def test_wrong_values_fail_at_render_not_at_run_time(chart: str, wrong: dict[str, Any]) -> None:
    with pytest.raises(Exception, match="schema"):
        render(chart, {**values_of(chart), **wrong})


def test_the_annotation_sync_needs_a_label_studio_url() -> None:
    values = values_of("annotation-sync")
    with pytest.raises(Exception, match="schema"):
        render("annotation-sync", {**values, "env": {**values["env"], "LABEL_STUDIO_URL": "label-studio:8080"}})
