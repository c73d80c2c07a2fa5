"""One run: one model version's finished traffic in one window, judged against its reference.

For each version that answered requests in the window (a window served by two versions gets
two runs), the job stores: the operational figures of all its requests (SQL aggregates, never
a sample), the drift verdict on up to ``max_rows`` of its succeeded requests (a stable random
sample when there are more, and the run says so), the quality figures of every labelled one
(``labelled_requests`` 0 when none are), and the report's location. A window with no traffic
is recorded as ``insufficient_data`` for the champion. Anything that goes wrong in a run (the
reference, S3, Evidently) makes that run ``failed`` with the reason, keeps what was computed,
and never stops the other runs; re-running the window replaces it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import numpy as np

from inference_core.aws.s3 import REPORTS_PREFIX
from inference_core.db.monitoring import LabelledAnswer, MetricRecord, Operations, RunRecord, TrafficRow
from inference_core.db.schema import RunStatus
from inference_core.reference import confidence_of, label_of
from monitoring_job.baseline import Baseline, References, baseline, calibrated
from monitoring_job.drift import Verdict, judge
from monitoring_job.quality import quality_by_sampling
from monitoring_job.report import render
from monitoring_job.sample import Sample
from monitoring_job.settings import DriftSettings

log = logging.getLogger(__name__)

REFERENCE_OWN = "version"  # the version's own reference sample, logged at training
TRAILING_REFERENCE_ROWS = 4000  # a trailing reference is a sample of this many of its requests


@dataclass(frozen=True)
class ReferenceChoice:
    """What a window is judged against: the version's own sample, or the model's trailing traffic."""

    trailing_days: int | None = None

    @classmethod
    def parse(cls, text: str) -> ReferenceChoice:
        if text == REFERENCE_OWN:
            return cls()
        if text.startswith("trailing:") and text.endswith("d") and text[9:-1].isdigit() and int(text[9:-1]) > 0:
            return cls(int(text[9:-1]))
        raise ValueError(f"reference must be {REFERENCE_OWN!r} or 'trailing:<days>d', e.g. trailing:7d; got {text!r}")

    def __str__(self) -> str:
        return REFERENCE_OWN if self.trailing_days is None else f"trailing:{self.trailing_days}d"


class Traffic(Protocol):
    def versions(self, model: str, start: datetime, end: datetime) -> list[str]: ...

    def operations(self, model: str, version: str, start: datetime, end: datetime) -> Operations: ...

    def rows(self, model: str, version: str | None, start: datetime, end: datetime, limit: int) -> list[TrafficRow]:
        """Succeeded requests of the version (of every version, for None), a stable sample of `limit`."""
        ...

    def labelled(self, model: str, version: str, start: datetime, end: datetime) -> list[LabelledAnswer]:
        """The version's answers in the window that people labelled, with their labels."""
        ...


class Features(Protocol):
    def embeddings(self, rows: Sequence[TrafficRow]) -> np.ndarray | None:
        """One feature vector per row, or None when some row has none (or its stored features are gone)."""
        ...


class Reports(Protocol):
    def put(self, key: str, html: str) -> str: ...


class Runs(Protocol):
    def save(self, run: RunRecord, metrics: Sequence[MetricRecord], action: str) -> None:
        """Store the run (replacing the window's earlier one) and, if it drifted, its alert, in one transaction."""
        ...


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    @classmethod
    def ending(cls, end: datetime, minutes: int) -> Window:
        return cls(end - timedelta(minutes=minutes), end)


@dataclass(frozen=True)
class Monitor:
    traffic: Traffic
    features: Features
    references: References
    reports: Reports
    runs: Runs
    settings: DriftSettings
    max_rows: int = 2000  # judged per run; more are sampled
    reference: ReferenceChoice = ReferenceChoice()
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)


def run_model(monitor: Monitor, model: str, action: str, window: Window) -> list[RunRecord]:
    """Judge every version of `model` that served in `window`; returns the stored runs."""
    versions = monitor.traffic.versions(model, window.start, window.end)
    if not versions:
        return [_record_empty(monitor, model, action, window)]
    return [_run_version(monitor, model, action, version, window) for version in versions]


def _record_empty(monitor: Monitor, model: str, action: str, window: Window) -> RunRecord:
    now = monitor.clock()
    version = monitor.references.champion(model) or "none"
    run = _record(
        monitor,
        model,
        version,
        window,
        RunStatus.INSUFFICIENT_DATA.value,
        requests=0,
        judged_rows=0,
        reference_rows=0,
        started_at=now,
        finished_at=now,
    )
    monitor.runs.save(run, [MetricRecord("operations", "requests", 0.0)], action)
    return run


def _run_version(monitor: Monitor, model: str, action: str, version: str, window: Window) -> RunRecord:
    started = monitor.clock()
    operations = monitor.traffic.operations(model, version, window.start, window.end)
    labelled = monitor.traffic.labelled(model, version, window.start, window.end)
    metrics = _operations_metrics(operations) + quality_by_sampling(labelled)
    judged_rows = reference_rows = 0
    calibration_seconds = 0.0
    sampling = report_key = reason = None
    status = RunStatus.FAILED.value
    try:
        found = _baseline(monitor, model, version, window)
        reference_rows, calibration_seconds = len(found.reference), found.calibration_seconds
        rows = monitor.traffic.rows(model, version, window.start, window.end, monitor.max_rows)
        judged_rows = len(rows)
        succeeded = operations.requests - operations.failed
        if succeeded > len(rows):
            sampling = f"stable random sample of {len(rows)} of {succeeded} succeeded requests"
        window_sample = _sample(rows, monitor.features)
        verdict = judge(window_sample, found.reference, found.calibration, monitor.settings.min_rows)
        metrics += _drift_metrics(verdict)
        status = verdict.status
        if verdict.status != RunStatus.INSUFFICIENT_DATA.value:
            report_key = monitor.reports.put(
                report_key_for(model, version, window), render(window_sample, found.reference, verdict)
            )
    except Exception as exc:
        log.exception("monitoring %s v%s for %s..%s failed", model, version, window.start, window.end)
        status, reason, report_key = RunStatus.FAILED.value, f"{type(exc).__name__}: {exc}"[:2000], None
    run = _record(
        monitor,
        model,
        version,
        window,
        status,
        requests=operations.requests,
        judged_rows=judged_rows,
        reference_rows=reference_rows,
        started_at=started,
        finished_at=monitor.clock(),
        sampling=sampling,
        reason=reason,
        report_key=report_key,
        calibration_seconds=calibration_seconds,
    )
    monitor.runs.save(run, metrics, action)
    return run


def _baseline(monitor: Monitor, model: str, version: str, window: Window) -> Baseline:
    days = monitor.reference.trailing_days
    if days is None:
        return baseline(monitor.references, model, version, monitor.settings)
    # The model's own recent traffic (every version): recalibrated each run, since it moves every hour.
    start = window.start - timedelta(days=days)
    rows = monitor.traffic.rows(model, None, start, window.start, TRAILING_REFERENCE_ROWS)
    reference = _sample(rows, monitor.features)
    return Baseline(model, version, reference, *calibrated(reference, monitor.settings))


def _record(monitor: Monitor, model: str, version: str, window: Window, status: str, **figures: Any) -> RunRecord:
    return RunRecord(
        model=model,
        model_version=version,
        window_start=window.start,
        window_end=window.end,
        reference=str(monitor.reference),
        status=status,
        **figures,
    )


def report_key_for(model: str, version: str, window: Window) -> str:
    """``reports/<model>/v<version>/<yyyy>/<mm>/<dd>/<hh>.html`` (``<hh>-<MM>`` off the hour)."""
    start = window.start.astimezone(UTC)
    stem = f"{start:%H}" if start.minute == 0 else f"{start:%H-%M}"
    return f"{REPORTS_PREFIX}/{model}/v{version}/{start:%Y/%m/%d}/{stem}.html"


def _sample(rows: Sequence[TrafficRow], features: Features) -> Sample:
    return Sample.build(
        [row.text for row in rows],
        [label_of(row.result) for row in rows],
        [confidence_of(row.result) for row in rows],
        features.embeddings(rows) if rows else None,
    )


def _operations_metrics(operations: Operations) -> list[MetricRecord]:
    figures = {
        "requests": float(operations.requests),
        "failed": float(operations.failed),
        "failure_rate": operations.failure_rate,
        "queue_latency_p50_ms": operations.queue_p50_ms,
        "queue_latency_p95_ms": operations.queue_p95_ms,
        "model_latency_p50_ms": operations.model_p50_ms,
        "model_latency_p95_ms": operations.model_p95_ms,
        "total_latency_p50_ms": operations.total_p50_ms,
        "total_latency_p95_ms": operations.total_p95_ms,
    }
    return [MetricRecord("operations", name, value) for name, value in figures.items()]


def _drift_metrics(verdict: Verdict) -> list[MetricRecord]:
    return [
        MetricRecord(
            "drift",
            r.metric,
            r.score,
            method=r.method,
            threshold=r.threshold,
            calibrated_rows=r.calibrated_rows,
            drifted=r.drifted,
        )
        for r in verdict.results
    ]
