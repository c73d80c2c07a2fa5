"""A new model is one folder: discovered, trained, served end to end, routed only its own action;
and the registry, not a redeploy, decides which version serves (hot promotion)."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

import devstack
from model_runtime.base import TrainOptions
from model_runtime.catalog import find
from model_runtime.lifecycle import train_and_register
from model_runtime.registry import CHAMPION, ModelRegistry
from support.api import GatewayClient
from support.models import add_keyword_model, copy_of_real_models
from support.stack import Platform

POLL_SECONDS = 2


@dataclasses.dataclass
class Onboarded:
    models_dir: Path
    worker: devstack.Process
    registry: ModelRegistry


@pytest.fixture(scope="module")
def onboarded(platform: Platform, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Onboarded]:
    """What a data scientist does: add a folder, then run the same bootstrap and jobs as everyone."""
    models_dir = copy_of_real_models(tmp_path_factory.mktemp("repo") / "models")
    add_keyword_model(models_dir)
    config = dataclasses.replace(platform.stack.config, models_dir=models_dir)
    devstack.bootstrap(config)  # its queue, subscription, DLQ and action
    devstack.ensure_champions(config)  # trains only the model without a champion
    worker = devstack.start_worker(config, "keyword", {"WORKER_ALIAS_POLL_SECONDS": str(POLL_SECONDS)})
    yield Onboarded(models_dir, worker, ModelRegistry(config.mlflow_uri))
    worker.stop()


def served_version(gateway: GatewayClient, text: str = "a fine and lovely film") -> str:
    response = gateway.submit({"action": "keywords", "text": text})
    assert response.status_code == 202, response.text
    answer = gateway.result(response.json()["request_id"])
    assert answer["status"] == "succeeded", answer
    assert answer["model"]["name"] == "keyword"
    return str(answer["model"]["version"])


def test_a_new_folder_is_discovered_trained_and_served(gateway: GatewayClient, onboarded: Onboarded) -> None:
    champion = onboarded.registry.by_alias("keyword", CHAMPION)
    assert champion is not None
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        actions = {a["action"]: a for a in gateway.get("/v1/actions").json()["actions"]}
        if actions.get("keywords", {}).get("serving"):
            break
        time.sleep(0.5)
    assert actions["keywords"]["model"] == "keyword" and actions["keywords"]["version"] == champion.version
    response = gateway.submit({"action": "keywords", "text": "a wonderful, moving film"})
    answer = gateway.result(response.json()["request_id"])
    assert answer["status"] == "succeeded"
    assert answer["model"] == {"name": "keyword", "version": champion.version}
    assert answer["result"]["label"] in ("positive", "negative") and "margin" in answer["result"]


def test_each_model_sees_only_its_own_action(gateway: GatewayClient, onboarded: Onboarded) -> None:
    ids = {
        action: [gateway.submit({"action": action, "text": f"text {i}"}).json()["request_id"] for i in range(5)]
        for action in ("keywords", "sentiment")
    }
    models = {action: {gateway.result(i)["model"]["name"] for i in request_ids} for action, request_ids in ids.items()}
    assert models == {"keywords": {"keyword"}, "sentiment": {"sentiment"}}


def test_a_promoted_version_serves_without_a_restart_and_nothing_fails(
    gateway: GatewayClient, onboarded: Onboarded
) -> None:
    spec = find(onboarded.models_dir, "keyword")
    before = served_version(gateway)
    outcomes: list[tuple[str, str]] = []
    stop = threading.Event()

    def keep_sending() -> None:
        while not stop.is_set():
            response = gateway.submit({"action": "keywords", "text": f"steady traffic {uuid.uuid4()}"})
            answer = gateway.result(response.json()["request_id"])
            outcomes.append((answer["status"], str(answer["model"]["version"])))

    sender = threading.Thread(target=keep_sending)
    sender.start()
    try:
        time.sleep(1)
        options = TrainOptions(device=torch.device("cpu"), limit=50, progress=False)
        new = train_and_register(spec, onboarded.registry, options, CHAMPION)
        deadline = time.monotonic() + 10 * POLL_SECONDS
        while time.monotonic() < deadline and (not outcomes or outcomes[-1][1] != new.version):
            time.sleep(0.2)
        time.sleep(1)
    finally:
        stop.set()
        sender.join(60)

    assert onboarded.worker.popen.poll() is None  # same process: no restart
    assert {status for status, _ in outcomes} == {"succeeded"}  # nothing dropped or failed
    versions = [version for _, version in outcomes]
    assert versions[0] == before and versions[-1] == new.version
    first_new = versions.index(new.version)
    assert set(versions[first_new:]) == {new.version}  # once swapped, only the new version answers


def test_a_version_that_fails_to_load_leaves_the_old_one_serving(
    gateway: GatewayClient, onboarded: Onboarded, tmp_path: Path
) -> None:
    registry = onboarded.registry
    serving = served_version(gateway)
    broken_artifacts = tmp_path / "broken"
    broken_artifacts.mkdir()
    (broken_artifacts / "counts.json").write_text("{not json")
    broken = registry.register("keyword", registry.log_run("keyword", {}, {}, broken_artifacts))
    registry.set_alias("keyword", CHAMPION, broken.version)

    deadline = time.monotonic() + 10 * POLL_SECONDS
    tags: dict[str, str] = {}
    while time.monotonic() < deadline and "serving.load_error" not in tags:
        time.sleep(0.5)
        tags = registry.version_tags(broken)
    assert "serving.load_error" in tags  # reported where the people who promote will look
    assert served_version(gateway) == serving  # and the old version still answers
    assert onboarded.worker.popen.poll() is None
