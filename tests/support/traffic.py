"""Synthetic, seeded model traffic for the monitoring tests: review-like texts and a model's answers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from inference_core.reference import ReferenceSample

WORDS = ["good", "bad", "film", "movie", "plot", "actor", "boring", "great", "the", "a", "and", "slow"]
DIMS = 16


@dataclass(frozen=True)
class Answers:
    texts: list[str]
    labels: list[str]
    confidences: list[float]
    embeddings: np.ndarray

    def reference(self) -> ReferenceSample:
        return ReferenceSample(self.texts, list(self.labels), list(self.confidences), self.embeddings)


def answers(
    rows: int, seed: int, words: Sequence[str] = WORDS, length: tuple[int, int] = (5, 30), positive: float = 0.5
) -> Answers:
    rng = np.random.default_rng(seed)
    texts = [" ".join(rng.choice(list(words), rng.integers(*length))) + "." for _ in range(rows)]
    labels = ["positive" if x < positive else "negative" for x in rng.random(rows)]
    confidences = [float(c) for c in rng.beta(5, 2, rows) * 0.5 + 0.5]
    return Answers(texts, labels, confidences, rng.normal(size=(rows, DIMS)).astype(np.float32))
