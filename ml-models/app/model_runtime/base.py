"""The contract every model implements, in the shape of MLflow's PythonModel.

Load once (``load``), predict a batch purely (``predict``), and keep training and
evaluation separate (``train`` writes the artifacts that ``load`` reads back).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import numpy as np
import torch


@dataclass(frozen=True)
class BatchOutput:
    """One result per input text, and their intermediate features (row i is text i)."""

    results: list[dict[str, Any]]
    features: np.ndarray
    # Per text, the tokens the model read (after its own truncation): the request's usage, which the
    # tenant is billed and its token quota adjusted to. None from a model that does not count them.
    input_tokens: Sequence[int] | None = None


@dataclass(frozen=True)
class TrainOptions:
    device: torch.device
    limit: int | None = None  # train on at most this many examples (quick runs, tests)
    seed: int = 0
    progress: bool = True
    # People's (text, label) pairs to learn from as well (model_runtime.human_labels): a model whose
    # results are labels adds them to its training data; others ignore them.
    human_examples: Sequence[tuple[str, str]] = ()


@dataclass(frozen=True)
class TrainOutput:
    params: dict[str, Any]
    metrics: dict[str, float]
    # Held-out texts that look like the traffic this version should serve (its validation texts):
    # the version's answers on them become its reference sample, which monitoring judges drift against.
    reference_texts: Sequence[str] = ()


class AbstractModel(ABC):
    @classmethod
    @abstractmethod
    def load(cls, artifacts_dir: Path, device: torch.device) -> Self:
        """Build a ready model from the artifacts `train` wrote."""

    @abstractmethod
    def predict(self, texts: Sequence[str]) -> BatchOutput:
        """Run the model on a batch; must not keep state between calls."""

    @classmethod
    @abstractmethod
    def train(cls, artifacts_dir: Path, options: TrainOptions) -> TrainOutput:
        """Train, write the artifacts into `artifacts_dir`, and report params and metrics."""

    @abstractmethod
    def eval(self, options: TrainOptions) -> dict[str, float]:
        """Score this model on the model's held-out data."""

    def half(self) -> Self:
        """Switch to half precision for serving on a GPU, if the model supports it.

        Overrides must keep results within the tolerance their docstring states (and test).
        The default keeps full precision.
        """
        return self
