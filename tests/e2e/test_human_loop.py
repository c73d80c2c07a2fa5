"""The human loop end to end, on real services: requests through the gateway, the unsure answers sent to
a real Label Studio by the sync job, labelled there through its API as an annotator would, pulled back
into PostgreSQL, turned into quality figures by the monitoring job, and used by training, whose
challenger is scored on people's held-out labels and promoted or refused with the reason recorded."""

from __future__ import annotations

import csv
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from inference_core.db.engine import make_engine
from inference_core.db.schema import labels
from monitoring_job.cli import build_monitor
from monitoring_job.run import Window, run_model
from monitoring_job.settings import Settings
from support.annotation import Annotator
from support.api import GatewayClient
from support.stack import LabelStudioServer, Platform

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SNIPPETS = ROOT / "tests" / "fixtures" / "models" / "keyword" / "snippets.csv"
JOBS = ROOT / "ml-models" / "app" / "jobs"
ROWS = 60


def run(argv: list[str], env: dict[str, str]) -> str:
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_unsure_answers_go_to_people_and_their_labels_score_and_retrain_the_model(
    gateway: GatewayClient, platform: Platform, label_studio: LabelStudioServer
) -> None:
    with SNIPPETS.open() as file:
        truth = {row["text"]: row["label"] for row in list(csv.DictReader(file))[:ROWS]}
    start = datetime.now(UTC)
    text_of = {gateway.submit({"action": "sentiment", "text": text}).json()["request_id"]: text for text in truth}
    ids = list(text_of)
    answered = {request_id: gateway.result(request_id) for request_id in ids}
    assert {a["status"] for a in answered.values()} == {"succeeded"}
    window = Window(start, datetime.now(UTC) + timedelta(milliseconds=1))
    client_says = ids[0]
    assert (
        gateway.request("POST", f"/v1/inference/{client_says}/feedback", json={"label": "positive"}).status_code == 201
    )

    env = {
        **platform.stack.env(),
        "ANNOTATION_MAX_TASKS": "5000",  # every candidate of the session, so all of this test's requests
        "LABEL_STUDIO_PROJECT_PREFIX": f"e2e{uuid.uuid4().hex[:6]}-",
        "HUMAN_HELD_OUT_MIN": "1",
    }
    sync = [str(ROOT / ".venv" / "bin" / "annotation-sync"), "run", "--model", "sentiment"]
    pushed = run(sync, env)
    assert "least confident" in pushed and "at random" in pushed

    annotator = Annotator(label_studio.url, label_studio.api_key)
    project_id = int(pushed.split("(project ")[1].split(")")[0])
    tasks = annotator.tasks(project_id)
    ours = {t["data"]["request_id"]: t for t in tasks if t["data"]["request_id"] in answered}
    assert set(ours) == set(ids)
    for task in tasks:  # people label each text: the truth where the test knows it, else the model's answer
        [prediction] = task["predictions"]
        model_said = prediction["result"][0]["value"]["choices"][0]
        assert prediction["score"] is not None and prediction["model_version"]
        annotator.label(task["id"], truth.get(task["data"]["text"], model_said))

    pulled = run(sync, env)
    assert f"{len(tasks)} labels stored" in pulled, pulled
    with platform.stack.engine.connect() as conn:
        annotations = conn.execute(
            select(func.count()).select_from(labels).where(labels.c.source == "annotation")
        ).scalar_one()
    assert annotations >= len(tasks)
    shown = gateway.result(client_says)["labels"]
    assert sorted(label["source"] for label in shown) == ["annotation", "client"]

    settings = Settings.from_env(platform.stack.env())
    engine = make_engine(settings.database_url)
    try:
        [judged] = run_model(build_monitor(settings, engine), "sentiment", "sentiment", window)
    finally:
        engine.dispose()
    [run_json] = [
        r
        for r in gateway.get("/v1/monitoring/runs", params={"model": "sentiment", "limit": 200}).json()["runs"]
        if r["window_start"] == judged.window_start.isoformat()
    ]
    quality = run_json["quality"]
    assert quality["labelled_requests"] == ROWS
    assert quality["random.labelled_requests"] + quality["uncertainty.labelled_requests"] == ROWS
    assert quality["client.labelled_requests"] == 1
    # Each request counts once, with the annotator's label (the truth) before its client's.
    right = sum(answered[i]["result"]["label"] == truth[text_of[i]] for i in ids)
    assert quality["accuracy"] == pytest.approx(right / ROWS)

    trained = run([str(JOBS / "train.sh"), "sentiment", "--limit", "2000"], env)
    assert "human labels in training" in trained, trained
    decided = run([str(JOBS / "eval.sh"), "sentiment", "--promote", "1.0"], env)  # a margin no version meets
    assert "REFUSED: sentiment" in decided and "required margin +1.0000" in decided, decided
    assert "human held-out accuracy" in decided and "labels" in decided, decided
