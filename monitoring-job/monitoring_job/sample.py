"""Rows of traffic, a window or a reference, in the shape the drift metrics read.

Text descriptors are Evidently's, and only those that are pure code (no NLTK data, no hub
model): character length, word count, share of non-letter characters. A label and a
confidence column exist when the model's results have them; embeddings when it stores
feature vectors.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from evidently import DataDefinition, Dataset
from evidently.descriptors import NonLetterCharacterPercentage, TextLength, WordCount

from inference_core.reference import ReferenceSample

TEXT_DESCRIPTORS = ("text_length", "word_count", "non_letter_share")
LABEL = "label"
CONFIDENCE = "confidence"


@dataclass(frozen=True)
class Sample:
    columns: pd.DataFrame  # the descriptors, and `label` / `confidence` where the model gives them
    embeddings: np.ndarray | None  # (rows, dims), row i is row i of `columns`

    @classmethod
    def build(
        cls,
        texts: Sequence[str],
        labels: Sequence[str | None] | None = None,
        confidences: Sequence[float | None] | None = None,
        embeddings: np.ndarray | None = None,
    ) -> Sample:
        columns = describe(texts)
        if labels is not None and any(label is not None for label in labels):
            columns[LABEL] = pd.Series(list(labels), dtype="object").fillna("(none)").astype(str).to_numpy()
        if confidences is not None and any(c is not None for c in confidences):
            columns[CONFIDENCE] = pd.Series(list(confidences), dtype="float64").to_numpy()
        if embeddings is not None and len(embeddings) != len(columns):
            raise ValueError(f"{len(embeddings)} embedding rows for {len(columns)} texts")
        return cls(columns, None if embeddings is None else np.asarray(embeddings, dtype=np.float32))

    @classmethod
    def from_reference(cls, reference: ReferenceSample) -> Sample:
        embeddings = reference.features if reference.features.ndim == 2 and reference.features.shape[1] else None
        return cls.build(reference.texts, reference.labels, reference.confidences, embeddings)

    def __len__(self) -> int:
        return len(self.columns)

    def take(self, rows: np.ndarray) -> Sample:
        columns = self.columns.iloc[rows].reset_index(drop=True)
        return Sample(columns, None if self.embeddings is None else self.embeddings[rows])


def describe(texts: Sequence[str]) -> pd.DataFrame:
    """Evidently's offline text descriptors, one row per text."""
    if not texts:  # Evidently's descriptors fail on zero rows
        return pd.DataFrame({name: pd.Series(dtype="float64") for name in TEXT_DESCRIPTORS})
    dataset = Dataset.from_pandas(
        pd.DataFrame({"text": list(texts)}),
        data_definition=DataDefinition(text_columns=["text"]),
        descriptors=[
            TextLength("text", alias="text_length"),
            WordCount("text", alias="word_count"),
            NonLetterCharacterPercentage("text", alias="non_letter_share"),
        ],
    )
    return dataset.as_dataframe()[list(TEXT_DESCRIPTORS)].astype("float64").reset_index(drop=True)
