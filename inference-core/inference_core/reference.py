"""The reference sample of a model version: what its traffic should look like.

Written by the training job next to the version's model artifacts (MLflow artifact path
``reference``), read by the monitoring job, which judges a window of traffic against it.
It holds the version's own answers on held-out texts: each text, the label and confidence
the version gave it (None for models whose results have neither), and the features the
worker would store for it (row i is text i). The format is this module; nothing else
knows the file names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ARTIFACT_PATH = "reference"  # under the version's MLflow run
_ROWS = "rows.json"
_FEATURES = "features.npy"


@dataclass(frozen=True)
class ReferenceSample:
    texts: list[str]
    labels: list[str | None]
    confidences: list[float | None]
    features: np.ndarray  # (len(texts), dims), float32

    def __post_init__(self) -> None:
        sizes = {len(self.texts), len(self.labels), len(self.confidences), len(self.features)}
        if len(sizes) != 1:
            raise ValueError(f"a reference sample needs one label, confidence and feature row per text; got {sizes}")

    @classmethod
    def from_results(
        cls, texts: Sequence[str], results: Sequence[Mapping[str, Any]], features: np.ndarray
    ) -> ReferenceSample:
        """From a model's own results: their ``label`` and ``confidence`` keys, where they have them."""
        labels = [label_of(r) for r in results]
        confidences = [confidence_of(r) for r in results]
        return cls(list(texts), labels, confidences, np.asarray(features, dtype=np.float32))

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        rows = {"texts": self.texts, "labels": self.labels, "confidences": self.confidences}
        (directory / _ROWS).write_text(json.dumps(rows, ensure_ascii=False))
        np.save(directory / _FEATURES, self.features)
        return directory

    @classmethod
    def read(cls, directory: Path) -> ReferenceSample:
        rows = json.loads((directory / _ROWS).read_text())
        return cls(rows["texts"], rows["labels"], rows["confidences"], np.load(directory / _FEATURES))


def label_of(result: Mapping[str, Any]) -> str | None:
    """The label a model's result gives, if its results have one."""
    label = result.get("label")
    return None if label is None else str(label)


def confidence_of(result: Mapping[str, Any]) -> float | None:
    """The confidence a model's result gives, if its results have one."""
    confidence = result.get("confidence")
    return float(confidence) if isinstance(confidence, int | float) else None
