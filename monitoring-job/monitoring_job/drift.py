"""What ``drift`` means: per-metric distances with thresholds calibrated for the window's size.

A distance between a window and its reference is never zero, and how large it gets by chance
depends on how many rows the window has: a 50-row window of ordinary traffic lies further from
the reference than a 1,000-row one. A fixed threshold (Evidently's default: normed Wasserstein
>= 0.1) therefore calls most small windows drifted. Here each threshold is measured instead:

- **Scores.** Each metric is one of Evidently's drift scores (its stat tests and its embedding
  distance method), computed between the window and the whole reference.
- **Null distribution.** To learn what a window of ``m`` ordinary rows scores, the reference is
  split at random many times (``draws``): ``m`` rows play the window, and another half of the
  reference plays the reference. ``m`` is capped at half the reference. Against half a reference
  a window scores as if the reference's own chance error counted twice: once as it does for
  every real window, and once more for the offset by which this particular reference happens to
  differ from the traffic it stands for (which every hour shares), so thresholds err toward
  silence, never toward alarms.
- **Threshold.** The ``1 - alpha / k`` quantile of those null scores, for ``k`` metrics
  (Bonferroni): an ordinary window trips any one metric with probability at most ``alpha``.
- **Sizes.** Calibrated on a grid of window sizes; a window uses the thresholds of the
  largest calibrated size not above its own (thresholds shrink as windows grow, so this too
  errs toward silence). Windows under ``min_rows`` get no verdict (``insufficient_data``).
- **Verdict.** ``drift`` if any metric's score exceeds its threshold; every score is kept with
  its method, threshold and the window size that threshold was calibrated for.

Calibrating takes about 25 s on two cores (1,000 draws per size), so it is done once per
reference and stored (``Calibration``); judging a window then takes milliseconds.
benchmarks/drift_calibration.py measures the false alarms and detection this gives.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from evidently.legacy.calculations.stattests.registry import get_registered_stattest
from evidently.legacy.core import ColumnType
from evidently.metrics.embeddings import DistanceDriftMethod

from monitoring_job.sample import CONFIDENCE, LABEL, TEXT_DESCRIPTORS, Sample

Kind = Literal["numerical", "categorical", "embedding"]
Status = Literal["ok", "drift", "insufficient_data"]

EMBEDDING = "embedding"


@dataclass(frozen=True)
class Metric:
    name: str  # the column judged, or "embedding"
    method: str  # the Evidently stat test or embedding method that scores it
    kind: Kind


# Every metric a sample can have; a model is judged on those its reference has.
METRICS = (
    *(Metric(name, "wasserstein", "numerical") for name in TEXT_DESCRIPTORS),
    Metric(CONFIDENCE, "wasserstein", "numerical"),
    Metric(LABEL, "jensenshannon", "categorical"),
    Metric(EMBEDDING, "euclidean_mean_distance", "embedding"),
)


def metrics_for(sample: Sample) -> list[Metric]:
    """The metrics `sample` has data for."""
    has_embeddings = sample.embeddings is not None
    return [m for m in METRICS if (has_embeddings if m.kind == "embedding" else m.name in sample.columns)]


def score(metric: Metric, window: Sample, reference: Sample) -> float:
    """Evidently's drift score of `metric` (larger: further from the reference)."""
    if metric.kind == "embedding":
        assert window.embeddings is not None and reference.embeddings is not None
        distance, _, _ = _MEAN_DISTANCE(pd.DataFrame(window.embeddings), pd.DataFrame(reference.embeddings))
        return float(distance)
    column_type = ColumnType.Numerical if metric.kind == "numerical" else ColumnType.Categorical
    test = get_registered_stattest(metric.method, column_type)
    result = test(reference.columns[metric.name], window.columns[metric.name], column_type, None)
    return float(result.drift_score)


# Evidently's distance between mean embeddings; its own fixed threshold is not used.
_MEAN_DISTANCE = DistanceDriftMethod(dist="euclidean", bootstrap=False)

DEFAULT_SIZES = (50, 100, 200, 300, 500, 1000, 2000, 5000, 10000)


@dataclass(frozen=True)
class Calibration:
    """Per metric, the score ordinary windows of each size stay under (see the module docstring)."""

    alpha: float  # chance that an ordinary window is called drifted
    draws: int
    seed: int
    reference_rows: int
    sizes: list[int]  # ascending
    thresholds: dict[str, list[float]]  # metric name -> one threshold per size
    methods: dict[str, str] = field(default_factory=dict)  # metric name -> method

    def threshold(self, metric: str, rows: int) -> tuple[float, int]:
        """The threshold for a window of `rows`, and the window size it was calibrated for."""
        index = max(0, int(np.searchsorted(self.sizes, rows, side="right")) - 1)
        return self.thresholds[metric][index], self.sizes[index]

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Calibration:
        return cls(**json.loads(text))


def calibrate(
    reference: Sample,
    sizes: Sequence[int] = DEFAULT_SIZES,
    draws: int = 400,
    alpha: float = 0.05,
    seed: int = 0,
) -> Calibration:
    metrics = metrics_for(reference)
    half = len(reference) // 2
    if half < min(sizes):
        raise ValueError(f"a reference of {len(reference)} rows is too small to calibrate windows of {min(sizes)}")
    grid = sorted({min(size, half) for size in sizes})
    level = 1 - alpha / len(metrics)
    rng = np.random.default_rng(seed)
    thresholds: dict[str, list[float]] = {m.name: [] for m in metrics}
    for size in grid:
        null = np.empty((draws, len(metrics)))
        for draw in range(draws):
            order = rng.permutation(len(reference))
            window, other_half = reference.take(order[:size]), reference.take(order[size : size + half])
            null[draw] = [score(m, window, other_half) for m in metrics]
        for column, metric in enumerate(metrics):
            thresholds[metric.name].append(float(np.quantile(null[:, column], level, method="higher")))
    return Calibration(
        alpha=alpha,
        draws=draws,
        seed=seed,
        reference_rows=len(reference),
        sizes=grid,
        thresholds=thresholds,
        methods={m.name: m.method for m in metrics},
    )


@dataclass(frozen=True)
class MetricResult:
    metric: str
    method: str
    score: float
    threshold: float
    calibrated_rows: int  # the window size the threshold was calibrated for
    drifted: bool


@dataclass(frozen=True)
class Verdict:
    status: Status
    rows: int
    results: list[MetricResult]

    @property
    def drifted(self) -> list[str]:
        return [r.metric for r in self.results if r.drifted]


def scores(window: Sample, reference: Sample) -> dict[str, float]:
    """Every metric both samples have data for, scored for `window`."""
    shared = {m.name for m in metrics_for(window)}
    return {metric.name: score(metric, window, reference) for metric in metrics_for(reference) if metric.name in shared}


def judge(window: Sample, reference: Sample, calibration: Calibration, min_rows: int) -> Verdict:
    """Score every metric of `window` against `reference`; no verdict below `min_rows`."""
    if len(window) < min_rows:
        return Verdict("insufficient_data", len(window), [])
    return verdict(scores(window, reference), len(window), calibration)


def verdict(window_scores: dict[str, float], rows: int, calibration: Calibration) -> Verdict:
    results = []
    for metric, value in window_scores.items():
        if metric not in calibration.thresholds:
            raise ValueError(f"the calibration has no threshold for {metric}; recalibrate this reference")
        threshold, calibrated_rows = calibration.threshold(metric, rows)
        method = calibration.methods[metric]
        results.append(MetricResult(metric, method, value, threshold, calibrated_rows, value > threshold))
    status: Status = "drift" if any(r.drifted for r in results) else "ok"
    return Verdict(status, rows, results)
