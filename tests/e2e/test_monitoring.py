"""The monitoring job on real traffic: requests through the gateway, answered by the sentiment worker,
judged by the job (real PostgreSQL, S3 features, MLflow reference, Evidently), read back over HTTP; the
job's AWS calls stay inside its IAM policy."""

from __future__ import annotations

import csv
import dataclasses
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import requests
from sqlalchemy import Engine, func, select

from inference_core.aws import calls
from inference_core.aws.iam import Permission
from inference_core.aws.s3 import parse_s3_uri
from inference_core.db.engine import make_engine
from inference_core.db.monitoring import RunRecord
from inference_core.db.schema import inference_requests, monitoring_runs, outbox
from inference_core.events import DriftDetected, EventType, decode
from monitoring_job.cli import build_monitor
from monitoring_job.run import Monitor, Window, run_model
from monitoring_job.settings import Settings
from shifted_texts import shifted_texts
from support.api import GatewayClient
from support.iam import outside_policy
from support.stack import Platform
from support.tenants import bearer

pytestmark = pytest.mark.e2e

SNIPPETS = Path(__file__).resolve().parents[1] / "fixtures" / "models" / "keyword" / "snippets.csv"
ROWS = 120


@dataclasses.dataclass
class Judged:
    monitor: Monitor
    engine: Engine
    ordinary: Window
    shifted: Window
    runs: dict[str, RunRecord]
    calibrated_before: bool  # the version's calibration was stored before these runs
    permissions: set[Permission]  # what the job's AWS calls needed, for these runs


def send(gateway: GatewayClient, texts: list[str]) -> Window:
    """Submit `texts` and wait for every answer; the window that holds exactly their completions."""
    start = datetime.now(UTC)
    ids = [gateway.submit({"action": "sentiment", "text": text}).json()["request_id"] for text in texts]
    for request_id in ids:
        assert gateway.result(request_id)["status"] == "succeeded"
    return Window(start, datetime.now(UTC) + timedelta(milliseconds=1))


@pytest.fixture(scope="module")
def judged(gateway: GatewayClient, platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Judged]:
    with SNIPPETS.open() as file:
        reviews = [row["text"] for row in csv.DictReader(file)][-ROWS:]
    ordinary = send(gateway, reviews)
    shifted = send(gateway, shifted_texts(ROWS, seed=1))
    # In this process, as the job's composition root builds it; its clients record the permission of each
    # call (AWS_CALL_COUNTS_DIR): the ones added during these runs are the job's.
    counts = tmp_path_factory.mktemp("monitoring-job-calls")
    settings = Settings.from_env({**platform.stack.env(), "AWS_CALL_COUNTS_DIR": str(counts)})
    before = calls.permissions()
    engine = make_engine(settings.database_url)
    monitor = build_monitor(settings, engine)
    version = monitor.references.champion("sentiment")
    assert version is not None
    # Another test may have judged this version first; then its calibration is stored already.
    calibrated = monitor.references.calibration("sentiment", version, settings.drift.calibration_key) is not None
    runs = {}
    for name, window in (("ordinary", ordinary), ("shifted", shifted)):
        [runs[name]] = run_model(monitor, "sentiment", "sentiment", window)
    used = {Permission.parse(key) for key, n in calls.permissions().items() if n > before.get(key, 0)}
    yield Judged(monitor, engine, ordinary, shifted, runs, calibrated, used)
    engine.dispose()


def test_movie_reviews_like_the_reference_are_not_drift(judged: Judged) -> None:
    run = judged.runs["ordinary"]
    assert (run.status, run.requests, run.judged_rows, run.reason) == ("ok", ROWS, ROWS, None)
    assert run.reference_rows > 100


def test_technical_product_and_log_text_is_drift_on_the_text_and_its_embedding(judged: Judged) -> None:
    run = judged.runs["shifted"]
    assert run.status == "drift"
    with judged.engine.connect() as conn:
        [event] = [
            decode(body)
            for body in conn.execute(
                select(outbox.c.body).where(outbox.c.event_type == EventType.DRIFT_DETECTED.value)
            ).scalars()
            if decode(body).window_start == run.window_start  # type: ignore[union-attr]
        ]
    assert isinstance(event, DriftDetected)
    drifted = {m.metric for m in event.drifted}
    assert {"non_letter_share", "embedding"} <= drifted
    assert all(m.score > m.threshold for m in event.drifted)


def test_the_calibration_is_stored_with_the_reference_in_mlflow_and_reused(judged: Judged) -> None:
    # The version's first run calibrated its reference and stored it; every later run reads it back.
    assert (judged.runs["ordinary"].calibration_seconds > 0) is not judged.calibrated_before
    assert judged.runs["shifted"].calibration_seconds == 0


def test_the_jobs_calls_stay_inside_its_policy(judged: Judged, platform: Platform) -> None:
    actions = {(p.action, p.resource.name.split("/")[1]) for p in judged.permissions if p.resource.kind == "object"}
    assert {("s3:GetObject", "features"), ("s3:PutObject", "reports")} <= actions  # it read features, wrote reports
    assert outside_policy(platform.stack, "monitoring-job", judged.permissions) == []


def test_a_rerun_of_a_window_replaces_its_run(judged: Judged) -> None:
    [again] = run_model(judged.monitor, "sentiment", "sentiment", judged.shifted)
    assert again.status == "drift"
    with judged.engine.connect() as conn:
        count = conn.execute(
            select(func.count()).where(
                monitoring_runs.c.model == "sentiment", monitoring_runs.c.window_start == judged.shifted.start
            )
        ).scalar_one()
    assert count == 1


def test_runs_and_reports_are_served_over_http(judged: Judged, gateway: GatewayClient) -> None:
    since = (judged.ordinary.start - timedelta(seconds=1)).isoformat()
    page = gateway.get("/v1/monitoring/runs", params={"model": "sentiment", "since": since}).json()
    windows = [(r["window_start"], r["status"]) for r in page["runs"]]
    assert windows[:2] == [
        (judged.shifted.start.isoformat(), "drift"),
        (judged.ordinary.start.isoformat(), "ok"),
    ]
    shifted = page["runs"][0]
    assert set(shifted["drifted"]) >= {"non_letter_share", "embedding"}
    figures = {d["metric"]: d for d in shifted["drift"]}
    assert figures["embedding"]["method"] == "euclidean_mean_distance"
    assert figures["text_length"]["calibrated_rows"] == 100  # the largest calibrated size under 120 rows
    assert shifted["operations"]["requests"] == ROWS

    drifted_only = gateway.get("/v1/monitoring/runs", params={"status": "drift", "since": since}).json()["runs"]
    assert {r["status"] for r in drifted_only} == {"drift"}

    report = requests.get(gateway.base_url + shifted["report_url"], headers=bearer(gateway.api_key), timeout=30)
    assert report.status_code == 200
    assert report.headers["Content-Type"].startswith("text/html")
    assert "<html" in report.text.lower() and len(report.text) > 100_000

    assert gateway.get(f"/v1/monitoring/runs/{uuid.uuid4()}").status_code == 404
    assert gateway.get(f"/v1/monitoring/runs/{uuid.uuid4()}/report").status_code == 404
    bad = gateway.get("/v1/monitoring/runs", params={"status": "drifting"})
    assert bad.status_code == 422 and "status must be one of" in bad.json()["error"]["message"]


def test_an_unreachable_s3_fails_the_run_with_a_reason_and_a_rerun_succeeds(judged: Judged, platform: Platform) -> None:
    settings = Settings.from_env({**platform.stack.env(), "AWS_ENDPOINT_URL": platform.proxy.url})
    monitor = build_monitor(settings, judged.engine)
    platform.proxy.disable()
    try:
        [failed] = run_model(monitor, "sentiment", "sentiment", judged.ordinary)
    finally:
        platform.proxy.enable()
    assert failed.status == "failed" and failed.reason
    [again] = run_model(monitor, "sentiment", "sentiment", judged.ordinary)
    assert again.status == "ok"


def test_a_window_whose_features_and_report_are_gone_is_judged_on_the_rest_and_its_report_is_a_404(
    judged: Judged, gateway: GatewayClient, platform: Platform
) -> None:
    """S3 objects expire (a lifecycle rule) or vanish with LocalStack's state when `make up` restarts."""
    s3 = platform.stack.client("s3")
    with judged.engine.connect() as conn:
        uris = (
            conn.execute(
                select(inference_requests.c.features_uri)
                .distinct()
                .where(
                    inference_requests.c.model_name == "sentiment",
                    inference_requests.c.completed_at >= judged.ordinary.start,
                    inference_requests.c.completed_at < judged.ordinary.end,
                )
            )
            .scalars()
            .all()
        )
    assert uris
    for uri in uris:
        bucket, key = parse_s3_uri(uri)
        s3.delete_object(Bucket=bucket, Key=key)

    [again] = run_model(judged.monitor, "sentiment", "sentiment", judged.ordinary)
    assert (again.status, again.judged_rows, again.reason) == ("ok", ROWS, None), "judged without embeddings"
    assert again.report_key is not None

    since = (judged.ordinary.start - timedelta(seconds=1)).isoformat()
    runs = gateway.get("/v1/monitoring/runs", params={"model": "sentiment", "since": since}).json()["runs"]
    [run] = [r for r in runs if r["window_start"] == judged.ordinary.start.isoformat()]
    assert "embedding" not in {d["metric"] for d in run["drift"]}
    s3.delete_object(Bucket=platform.stack.aws.names.bucket, Key=again.report_key)
    gone = requests.get(gateway.base_url + run["report_url"], headers=bearer(gateway.api_key), timeout=30)
    assert gone.status_code == 404 and "no longer stored" in gone.json()["error"]["message"]
