"""The report a person opens: Evidently's HTML for one run, with the job's own thresholds.

One ``ValueDrift`` per judged column (text descriptors, confidence, label), each with the
method and the size-calibrated threshold the verdict used, so the page shows the same
scores and pass/fail as the stored run. The embedding score is in the run's metrics only:
Evidently's embedding widget runs a t-SNE projection that costs more than the whole run.
"""

from __future__ import annotations

import pandas as pd
from evidently import DataDefinition, Dataset, Report
from evidently.metrics import ValueDrift

from monitoring_job.drift import METRICS, Verdict
from monitoring_job.sample import Sample

_KINDS = {m.name: m.kind for m in METRICS}


def render(window: Sample, reference: Sample, verdict: Verdict) -> str:
    """The run's HTML page (self-contained: Evidently inlines its scripts)."""
    judged = [r for r in verdict.results if _KINDS[r.metric] != "embedding"]
    columns = [r.metric for r in judged]
    definition = DataDefinition(
        numerical_columns=[c for c in columns if _KINDS[c] == "numerical"],
        categorical_columns=[c for c in columns if _KINDS[c] == "categorical"],
    )
    report = Report(
        [ValueDrift(column=r.metric, method=r.method, threshold=r.threshold) for r in judged], include_tests=True
    )
    snapshot = report.run(
        Dataset.from_pandas(_frame(window, columns), data_definition=definition),
        Dataset.from_pandas(_frame(reference, columns), data_definition=definition),
    )
    return str(snapshot.get_html_str(as_iframe=False))


def _frame(sample: Sample, columns: list[str]) -> pd.DataFrame:
    return sample.columns[columns].reset_index(drop=True)
