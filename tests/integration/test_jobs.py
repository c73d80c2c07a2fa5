"""The job scripts, run as CI would run them, against the real MLflow server."""

from __future__ import annotations

import os
import subprocess
import uuid
from pathlib import Path

import pytest
from mlflow import MlflowClient
from sqlalchemy import insert

from inference_core.db.labels import LabelledText
from inference_core.db.schema import labels
from inference_core.settings import write_env_file
from model_runtime.human_labels import split
from model_runtime.registry import CHALLENGER, CHAMPION, ModelRegistry
from support.annotation import store_answers
from support.models import add_keyword_model
from support.stack import Stack

pytestmark = pytest.mark.integration

JOBS = Path(__file__).resolve().parents[2] / "ml-models" / "app" / "jobs"


def job(stack: Stack, models_dir: Path, *args: str, env: dict[str, str] | None = None) -> str:
    env = {**stack.env(), "MODELS_DIR": str(models_dir), "PROMOTED_BY": "ci-pipeline#42", **(env or {})}
    done = subprocess.run([str(JOBS / args[0]), *args[1:]], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_train_eval_promote_and_rollback_through_the_scripts(stack: Stack, tmp_path: Path) -> None:
    name = f"kw{uuid.uuid4().hex[:6]}"
    add_keyword_model(tmp_path, name=name, action=name)
    registry = ModelRegistry(stack.config.mlflow_uri)

    assert "as @challenger" in job(stack, tmp_path, "train.sh", name, "--limit", "10")
    assert "PROMOTED" in job(stack, tmp_path, "eval.sh", name, "--promote", "0.01")  # the first champion
    weak = registry.by_alias(name, CHAMPION)
    job(stack, tmp_path, "train.sh", name)
    strong = registry.by_alias(name, CHALLENGER)
    assert weak is not None and strong is not None and strong.version != weak.version

    assert "accuracy=" in job(stack, tmp_path, "eval.sh", name, strong.version)
    assert "PROMOTED" in job(stack, tmp_path, "eval.sh", name, "--promote", "0.05")
    assert registry.version_tags(strong)["promotion.by"] == "ci-pipeline#42"
    assert f"back to version {weak.version}" in job(stack, tmp_path, "eval.sh", name, "--rollback")


def test_build_and_deploy_print_what_they_would_run() -> None:
    build = subprocess.run(
        [str(JOBS / "build-image.sh"), "sentiment", "gpu", "v1", "--dry-run"], capture_output=True, text=True
    )
    assert build.returncode == 0, build.stderr
    assert "--target gpu" in build.stdout
    assert "ml-models/models/sentiment/Dockerfile" in build.stdout and "model-sentiment:gpu-v1" in build.stdout
    deploy = subprocess.run([str(JOBS / "deploy.sh"), "sentiment", "v1", "--dry-run"], capture_output=True, text=True)
    assert deploy.returncode == 0, deploy.stderr
    assert "helm upgrade --install inference" in deploy.stdout and "helm/inference-platform" in deploy.stdout
    assert "--reset-then-reuse-values" in deploy.stdout and " -f " not in deploy.stdout  # the release's values kept
    assert "--set-string models.sentiment.image.tag=v1" in deploy.stdout
    unknown = subprocess.run([str(JOBS / "deploy.sh"), "nope", "v1", "--dry-run"], capture_output=True, text=True)
    assert unknown.returncode == 2


def test_a_job_beside_a_running_stack_finds_it_from_the_settings_file(stack: Stack, tmp_path: Path) -> None:
    name = f"kw{uuid.uuid4().hex[:6]}"
    models = tmp_path / "models"
    add_keyword_model(models, name=name, action=name)
    settings = tmp_path / "stack.env"
    write_env_file(settings, {**stack.config.settings(), "MODELS_DIR": str(models)}, "as make up writes it")
    bare = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), "STACK_ENV_FILE": str(settings)}

    done = subprocess.run(
        [str(JOBS / "train.sh"), name, "--limit", "10"], env=bare, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0 and "as @challenger" in done.stdout, done.stdout + done.stderr

    alone = subprocess.run(
        [str(JOBS / "train.sh"), name],
        env={**bare, "STACK_ENV_FILE": str(tmp_path / "no-stack-running.env")},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert alone.returncode != 0
    assert "Traceback" not in alone.stderr
    assert alone.stderr.strip().splitlines()[-1] == (
        "model-runtime: environment variable MLFLOW_TRACKING_URI must be set (or start the local stack with `make up`)"
    )


def test_training_uses_peoples_labels_and_promotion_is_scored_on_the_held_out_ones(
    stack: Stack, tmp_path: Path
) -> None:
    name = f"kw{uuid.uuid4().hex[:6]}"
    add_keyword_model(tmp_path, name=name, action=name)
    ids = store_answers(stack.engine, [0.6] * 80, model=name)
    with stack.engine.begin() as conn:
        conn.execute(
            insert(labels),
            [
                {"request_id": i, "source": "client", "label": "negative" if n % 2 else "positive"}
                for n, i in enumerate(ids)
            ],
        )
    expected = split([LabelledText(i, "", "") for i in ids], ("",))
    env = {"HUMAN_HELD_OUT_MIN": "5"}

    trained = job(stack, tmp_path, "train.sh", name, "--limit", "10", env=env)
    assert f"({len(expected.train)} human labels in training, {len(expected.held_out)} held out)" in trained
    registry = ModelRegistry(stack.config.mlflow_uri)
    first = registry.by_alias(name, CHALLENGER)
    assert first is not None
    params = MlflowClient(stack.config.mlflow_uri).get_run(str(first.run_id)).data.params
    assert int(params["human_labels_train"]) == len(expected.train) > 0
    assert int(params["human_labels_held_out"]) == len(expected.held_out) >= 5
    assert len(params["human_labels_fingerprint"]) == 64

    job(stack, tmp_path, "eval.sh", name, "--promote", "0", env=env)  # the first champion
    job(stack, tmp_path, "train.sh", name, env=env)
    decided = job(stack, tmp_path, "eval.sh", name, "--promote", "0", env=env)
    assert "human held-out accuracy" in decided and f"on {len(expected.held_out)} labels" in decided, decided

    record = MlflowClient(stack.config.mlflow_uri).search_runs(
        [MlflowClient(stack.config.mlflow_uri).get_experiment_by_name(f"{name}-promotions").experiment_id],
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )[0]
    assert {"challenger_human_accuracy", "champion_human_accuracy", "human_held_out"} <= set(record.data.metrics)
    assert "human held-out accuracy" in record.data.tags["reason"]
