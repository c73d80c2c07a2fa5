"""How right a version was where people labelled its answers: Evidently's classification metrics.

Two labels: binary metrics for the label that sorts last (sentiment: ``positive``); more: the
macro average over labels. Per-label F1, precision and recall are kept too (``key`` = label).

The headline figures (``accuracy``, ...) count each labelled request once, with a Label Studio
annotator's label before the client's. Each kind of label is also scored apart, its figures named
``random.accuracy``, ``uncertainty.accuracy``, ``client.accuracy``: only the random slice estimates
quality without bias (the uncertainty picks are the hard cases by construction).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from evidently import BinaryClassification, DataDefinition, Dataset, MulticlassClassification, Report
from evidently.presets import ClassificationPreset

from inference_core.db.monitoring import LabelledAnswer, MetricRecord

_HEADLINE = {"Accuracy": "accuracy", "F1Score": "f1", "Precision": "precision", "Recall": "recall"}
_BY_LABEL = {"F1ByLabel": "f1", "PrecisionByLabel": "precision", "RecallByLabel": "recall"}


SAMPLINGS = ("random", "uncertainty", "client")  # scored apart, in this order


def quality_by_sampling(answers: Sequence[LabelledAnswer]) -> list[MetricRecord]:
    """Figures over every labelled request, then over each kind of label apart."""
    first: dict[object, LabelledAnswer] = {}
    for answer in sorted(answers, key=lambda a: a.sampling == "client"):  # an annotator's label first
        first.setdefault(answer.request_id, answer)
    headline = list(first.values())
    records = quality([a.predicted for a in headline], [a.human for a in headline])
    for sampling in SAMPLINGS:
        kind = [a for a in answers if a.sampling == sampling]
        records += quality([a.predicted for a in kind], [a.human for a in kind], prefix=f"{sampling}.")
    return records


def quality(predicted: Sequence[str], actual: Sequence[str], prefix: str = "") -> list[MetricRecord]:
    """The quality figures of `predicted` against people's `actual` labels (pairs in the same order)."""
    records = [MetricRecord("quality", f"{prefix}labelled_requests", float(len(actual)))]
    if not actual:
        return records
    labels = sorted(set(predicted) | set(actual))
    if len(labels) < 2:  # every answer and label the same one: right every time, nothing else defined
        return [*records, MetricRecord("quality", f"{prefix}accuracy", 1.0)]
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
            records.append(MetricRecord("quality", prefix + _HEADLINE[kind], float(metric["value"])))
        elif kind in _BY_LABEL:
            for label, value in metric["value"].items():
                records.append(MetricRecord("quality", prefix + _BY_LABEL[kind], float(value), key=str(label)))
    return records
