"""Keeping a servable champion: restore lost artifacts from the local copy instead of retraining."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from inference_core.reference import ARTIFACT_PATH as REFERENCE_ARTIFACT_PATH
from inference_core.reference import ReferenceSample
from model_runtime.base import TrainOptions
from model_runtime.catalog import find, load_class
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
    assert sorted(p.name for p in files.iterdir()) == ["config.json", "head.pt", "reference"]  # restored with it


def test_a_trained_version_carries_its_own_answers_on_held_out_texts(stack: Stack, tmp_path: Path) -> None:
    registry = ModelRegistry(stack.config.mlflow_uri)
    spec = find(stack.config.models_dir, "sentiment")
    champion = registry.by_alias(spec.name, CHAMPION)
    assert champion is not None
    artifacts = registry.download(champion, tmp_path / "copy")
    reference = ReferenceSample.read(artifacts / REFERENCE_ARTIFACT_PATH)
    assert len(reference.texts) > 100
    assert reference.features.shape == (len(reference.texts), 384)
    assert set(reference.labels) == {"negative", "positive"}
    assert all(c is not None and 0.5 <= c <= 1 for c in reference.confidences)

    model = load_class(spec).load(artifacts, torch.device("cpu"))
    again = model.predict(reference.texts[:16])
    assert [r["label"] for r in again.results] == reference.labels[:16]
    assert np.allclose(again.features, reference.features[:16], atol=1e-4)
