"""How right a version was where people labelled its answers: Evidently's classification metrics.

Two labels: binary metrics for the label that sorts last (sentiment: ``positive``); more: the
macro average over labels. Per-label F1, precision and recall are kept too (``key`` = label).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Report
from evidently.presets import ClassificationPreset

from inference_core.db.monitoring import MetricRecord

_HEADLINE = {"Accuracy": "accuracy", "F1Score": "f1", "Precision": "precision", "Recall": "recall"}
_BY_LABEL = {"F1ByLabel": "f1", "PrecisionByLabel": "precision", "RecallByLabel": "recall"}


def quality(predicted: Sequence[str], actual: Sequence[str]) -> list[MetricRecord]:
    """The quality figures of `predicted` against people's `actual` labels (pairs in the same order)."""
    records = [MetricRecord("quality", "labelled_requests", float(len(actual)))]
    if not actual:
        return records
    labels = sorted(set(predicted) | set(actual))
    classification = (
        BinaryClassification(target="actual", prediction_labels="predicted", pos_label=labels[-1])
        if len(labels) <= 2
        else MulticlassClassification(target="actual", prediction_labels="predicted")
    )
    frame = pd.DataFrame({"actual": list(actual), "predicted": list(predicted)})
    definition = DataDefinition(categorical_columns=["actual", "predicted"], classification=[classification])
    snapshot = Report([ClassificationPreset()]).run(Dataset.from_pandas(frame, data_definition=definition), None)
    for metric in snapshot.dict()["metrics"]:
        kind = metric["config"]["type"].rsplit(":", 1)[-1]
        if kind in _HEADLINE:
            records.append(MetricRecord("quality", _HEADLINE[kind], float(metric["value"])))
        elif kind in _BY_LABEL:
            for label, value in metric["value"].items():
                records.append(MetricRecord("quality", _BY_LABEL[kind], float(value), key=str(label)))
    return records
