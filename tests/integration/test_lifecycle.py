"""Keeping a servable champion: restore lost artifacts from the local copy instead of retraining."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch

from model_runtime.base import TrainOptions
from model_runtime.catalog import find
from model_runtime.lifecycle import ensure_champion
from model_runtime.registry import CHAMPION, ModelRegistry
from support.stack import Stack

pytestmark = pytest.mark.integration


def test_a_champion_whose_artifacts_were_wiped_is_restored_not_retrained(stack: Stack, tmp_path: Path) -> None:
    registry = ModelRegistry(stack.config.mlflow_uri)
    spec = find(stack.config.models_dir, "sentiment")
    options = TrainOptions(device=torch.device("cpu"), limit=200, progress=False)
    champion = registry.by_alias(spec.name, CHAMPION)
    assert champion is not None and champion.run_id is not None  # trained by the session fixture

    # Keep a local copy of the champion's artifacts, then wipe them from S3 as a LocalStack restart does.
    cache = tmp_path / "cache"
    shutil.copytree(registry.download(champion, tmp_path / "copy"), cache / spec.name / champion.run_id)
    s3 = stack.client("s3")
    listing = s3.list_objects_v2(Bucket=stack.aws.names.bucket, Prefix="mlflow/")
    keys = [o["Key"] for o in listing.get("Contents", []) if f"/{champion.run_id}/" in o["Key"]]
    assert keys
    s3.delete_objects(Bucket=stack.aws.names.bucket, Delete={"Objects": [{"Key": k} for k in keys]})
    with pytest.raises(Exception):  # noqa: B017 - whatever MLflow raises for a missing artifact
        registry.download(champion, tmp_path / "gone")

    restored = ensure_champion(spec, registry, options, cache)

    assert restored.version == champion.version  # restored in place, no new version trained
    files = registry.download(restored, tmp_path / "back")
    assert sorted(p.name for p in files.iterdir()) == ["config.json", "head.pt"]
