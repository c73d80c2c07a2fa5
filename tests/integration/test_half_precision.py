"""Half precision (used on CUDA) keeps results within the tolerance the models state.

Run on the CPU here (IEEE fp16 too, only slower); the thresholds are the ones in the models'
``half()`` docstrings.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from model_runtime.base import TrainOptions
from model_runtime.catalog import find, load_class

pytestmark = pytest.mark.integration

MODELS = Path(__file__).resolve().parents[2] / "ml-models" / "models"
CPU = torch.device("cpu")
TEXTS = [
    "A warm, funny and deeply moving film.",
    "Dull, tedious and badly acted; a complete waste of time.",
    "The plot wanders, but the performances hold it together and the last act lands.",
    "Not the worst film of the year, but close.",
    "Ünïcode, emoji 🎬 and a very long sentence " + "that keeps going " * 20,
]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)  # type: ignore[no-any-return]


def test_sentiment_in_half_precision_stays_within_its_tolerance(tmp_path: Path) -> None:
    cls = load_class(find(MODELS, "sentiment"))
    cls.train(tmp_path, TrainOptions(device=CPU, limit=200, progress=False))
    full = cls.load(tmp_path, CPU).predict(TEXTS)
    half = cls.load(tmp_path, CPU).half().predict(TEXTS)
    for a, b in zip(full.results, half.results, strict=True):
        assert a["label"] == b["label"]
        assert all(abs(a["scores"][k] - b["scores"][k]) <= 0.01 for k in a["scores"])
    assert half.features.dtype == np.float32
    assert cosine(full.features, half.features).min() >= 0.999


def test_embeddings_in_half_precision_stay_within_their_tolerance(tmp_path: Path) -> None:
    cls = load_class(find(MODELS, "embedding"))
    cls.train(tmp_path, TrainOptions(device=CPU, limit=20, progress=False))
    full = cls.load(tmp_path, CPU).predict(TEXTS).features
    half = cls.load(tmp_path, CPU).half().predict(TEXTS).features
    assert half.dtype == np.float32
    assert cosine(full, half).min() >= 0.999
