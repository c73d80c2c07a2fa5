"""A monitoring run over fakes behind its ports: per version, empty hours, failures, reuse, sampling."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from inference_core.db.monitoring import LabelledAnswer, MetricRecord, Operations, RunRecord, TrafficRow
from inference_core.reference import ReferenceSample
from monitoring_job.drift import Calibration
from monitoring_job.run import Monitor, ReferenceChoice, Window, report_key_for, run_model
from monitoring_job.settings import DriftSettings
from support.traffic import Answers, answers

START = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
WINDOW = Window.ending(START + timedelta(hours=1), 60)
SETTINGS = DriftSettings(min_rows=50, draws=80, sizes=(50, 200))


@dataclass
class FakeTraffic:
    by_version: dict[str, Answers]
    failed: int = 0
    history: Answers | None = None  # the trailing days' traffic, every version
    labels: dict[str, list[LabelledAnswer]] = field(default_factory=dict)  # by version

    def labelled(self, model: str, version: str, start: datetime, end: datetime) -> list[LabelledAnswer]:
        return self.labels.get(version, [])

    def versions(self, model: str, start: datetime, end: datetime) -> list[str]:
        return sorted(v for v in self.by_version if v != "history")

    def operations(self, model: str, version: str, start: datetime, end: datetime) -> Operations:
        served = len(self.by_version[version].texts)
        return Operations(served + self.failed, self.failed, 10.0, 20.0, 5.0, 9.0, 15.0, 29.0)

    def rows(self, model: str, version: str | None, start: datetime, end: datetime, limit: int) -> list[TrafficRow]:
        if version is None:
            assert self.history is not None and end <= WINDOW.start, "a trailing reference ends where the window starts"
            self.by_version["history"] = self.history
        key = version or "history"
        made = self.by_version[key]
        return [
            TrafficRow(uuid.uuid4(), text, {"label": label, "confidence": confidence}, f"s3://b/{key}", i)
            for i, (text, label, confidence) in enumerate(zip(made.texts, made.labels, made.confidences, strict=True))
        ][:limit]


@dataclass
class FakeFeatures:
    traffic: FakeTraffic

    def embeddings(self, rows: Sequence[TrafficRow]) -> np.ndarray | None:
        return np.stack(
            [self.traffic.by_version[str(r.features_uri).rsplit("/", 1)[1]].embeddings[r.features_row] for r in rows]  # type: ignore[index]
        )


@dataclass
class FakeReferences:
    samples: dict[str, ReferenceSample]
    stored: dict[tuple[str, str, str], Calibration] = field(default_factory=dict)
    calibrated: int = 0

    def champion(self, model: str) -> str | None:
        return max(self.samples) if self.samples else None

    def reference(self, model: str, version: str) -> ReferenceSample:
        return self.samples[version]

    def calibration(self, model: str, version: str, key: str) -> Calibration | None:
        return self.stored.get((model, version, key))

    def save_calibration(self, model: str, version: str, key: str, calibration: Calibration) -> None:
        self.calibrated += 1
        self.stored[(model, version, key)] = calibration


@dataclass
class FakeReports:
    pages: dict[str, str] = field(default_factory=dict)
    unreachable: bool = False

    def put(self, key: str, html: str) -> str:
        if self.unreachable:
            raise ConnectionError("S3 is unreachable")
        self.pages[key] = html
        return key


@dataclass
class FakeRuns:
    saved: list[tuple[RunRecord, list[MetricRecord], str]] = field(default_factory=list)

    def save(self, run: RunRecord, metrics: Sequence[MetricRecord], action: str) -> None:
        self.saved = [
            s for s in self.saved if (s[0].model_version, s[0].window_start) != (run.model_version, run.window_start)
        ]
        self.saved.append((run, list(metrics), action))


def monitor(
    traffic: FakeTraffic, references: FakeReferences, reports: FakeReports, runs: FakeRuns, max_rows: int = 2000
) -> Monitor:
    return Monitor(traffic, FakeFeatures(traffic), references, reports, runs, SETTINGS, max_rows)


@pytest.fixture
def references() -> FakeReferences:
    return FakeReferences(
        {"1": answers(600, seed=1).reference(), "2": answers(600, seed=2, length=(40, 80)).reference()}
    )


def test_each_version_in_the_window_is_judged_against_its_own_reference(references: FakeReferences) -> None:
    traffic = FakeTraffic({"1": answers(120, seed=11), "2": answers(120, seed=12, length=(40, 80))})
    runs, reports = FakeRuns(), FakeReports()
    records = run_model(monitor(traffic, references, reports, runs), "sentiment", "sentiment", WINDOW)
    assert [(r.model_version, r.status) for r in records] == [("1", "ok"), ("2", "ok")]
    assert sorted(reports.pages) == [report_key_for("sentiment", v, WINDOW) for v in ("1", "2")]
    assert report_key_for("sentiment", "2", WINDOW) == "reports/sentiment/v2/2026/11/25/09.html"
    assert all("<html" in page.lower() for page in reports.pages.values())
    run, metrics, action = runs.saved[0]
    assert (run.requests, run.judged_rows, run.reference_rows, run.sampling) == (120, 120, 600, None)
    assert action == "sentiment"
    drift = {m.metric: m for m in metrics if m.kind == "drift"}
    assert set(drift) == {"text_length", "word_count", "non_letter_share", "confidence", "label", "embedding"}
    assert all(m.method and m.threshold and m.calibrated_rows == 50 and m.drifted is False for m in drift.values())
    operations = {m.metric: m.value for m in metrics if m.kind == "operations"}
    assert operations["requests"] == 120 and operations["queue_latency_p95_ms"] == 20.0


def test_the_other_versions_traffic_is_drift_against_this_ones_reference(references: FakeReferences) -> None:
    traffic = FakeTraffic({"1": answers(120, seed=11, length=(40, 80))})
    runs = FakeRuns()
    [record] = run_model(monitor(traffic, references, FakeReports(), runs), "sentiment", "sentiment", WINDOW)
    assert record.status == "drift"
    drifted = {m.metric for m in runs.saved[0][1] if m.drifted}
    assert {"text_length", "word_count"} <= drifted


def test_an_empty_hour_is_recorded_for_the_champion(references: FakeReferences) -> None:
    runs = FakeRuns()
    [record] = run_model(monitor(FakeTraffic({}), references, FakeReports(), runs), "sentiment", "sentiment", WINDOW)
    assert (record.model_version, record.status, record.requests) == ("2", "insufficient_data", 0)
    assert runs.saved[0][1] == [MetricRecord("operations", "requests", 0.0)]


def test_too_few_requests_get_figures_but_no_verdict_and_no_report(references: FakeReferences) -> None:
    runs, reports = FakeRuns(), FakeReports()
    traffic = FakeTraffic({"1": answers(20, seed=3)}, failed=2)
    [record] = run_model(monitor(traffic, references, reports, runs), "sentiment", "sentiment", WINDOW)
    assert (record.status, record.requests, record.judged_rows, record.report_key) == (
        "insufficient_data",
        22,
        20,
        None,
    )
    assert reports.pages == {}
    assert {m.metric: m.value for m in runs.saved[0][1]}["failure_rate"] == pytest.approx(2 / 22)


def test_an_unreachable_report_store_fails_the_run_with_a_reason_and_a_rerun_replaces_it(
    references: FakeReferences,
) -> None:
    traffic = FakeTraffic({"1": answers(120, seed=11)})
    runs, reports = FakeRuns(), FakeReports(unreachable=True)
    [failed] = run_model(monitor(traffic, references, reports, runs), "sentiment", "sentiment", WINDOW)
    assert (failed.status, failed.report_key) == ("failed", None)
    assert failed.reason == "ConnectionError: S3 is unreachable"
    assert any(m.kind == "drift" for m in runs.saved[0][1]), "what was computed is kept"

    reports.unreachable = False
    [again] = run_model(monitor(traffic, references, reports, runs), "sentiment", "sentiment", WINDOW)
    assert again.status == "ok" and again.reason is None
    assert [s[0].status for s in runs.saved] == ["ok"]


def test_the_calibration_is_computed_once_per_reference_and_reused(references: FakeReferences) -> None:
    traffic = FakeTraffic({"1": answers(120, seed=11)})
    first = run_model(monitor(traffic, references, FakeReports(), FakeRuns()), "sentiment", "sentiment", WINDOW)
    second = run_model(monitor(traffic, references, FakeReports(), FakeRuns()), "sentiment", "sentiment", WINDOW)
    assert references.calibrated == 1
    assert first[0].calibration_seconds > 0 and second[0].calibration_seconds == 0


def test_a_busy_window_is_sampled_and_says_so(references: FakeReferences) -> None:
    traffic = FakeTraffic({"1": answers(300, seed=11)})
    runs = FakeRuns()
    [record] = run_model(
        monitor(traffic, references, FakeReports(), runs, max_rows=100), "sentiment", "sentiment", WINDOW
    )
    assert (record.requests, record.judged_rows) == (300, 100)
    assert record.sampling == "stable random sample of 100 of 300 succeeded requests"


def test_a_trailing_reference_is_the_models_recent_traffic_recalibrated_each_run(references: FakeReferences) -> None:
    history = answers(800, seed=21)
    trailing = ReferenceChoice.parse("trailing:7d")
    runs = FakeRuns()
    like_last_week = FakeTraffic({"1": answers(120, seed=22)}, history=history)
    [ordinary] = run_model(
        dataclasses.replace(monitor(like_last_week, references, FakeReports(), runs), reference=trailing),
        "sentiment",
        "sentiment",
        WINDOW,
    )
    longer = FakeTraffic({"1": answers(120, seed=23, length=(40, 80))}, history=history)
    [shifted] = run_model(
        dataclasses.replace(monitor(longer, references, FakeReports(), runs), reference=trailing),
        "sentiment",
        "sentiment",
        WINDOW,
    )
    assert (ordinary.status, shifted.status) == ("ok", "drift")
    assert ordinary.reference == shifted.reference == "trailing:7d"
    assert ordinary.reference_rows == 800 and ordinary.calibration_seconds > 0 and shifted.calibration_seconds > 0
    assert references.calibrated == 0, "a trailing reference's calibration is not stored as the version's"


@pytest.mark.parametrize("text", ["trailing:7", "trailing:0d", "latest", "trailing:xd"])
def test_a_reference_is_the_versions_own_or_trailing_days(text: str) -> None:
    with pytest.raises(ValueError, match="trailing:<days>d"):
        ReferenceChoice.parse(text)
    assert str(ReferenceChoice.parse("version")) == "version"


def test_labelled_answers_give_quality_figures_per_version(references: FakeReferences) -> None:
    pairs = [("positive", "positive"), ("positive", "negative"), ("negative", "negative"), ("negative", "negative")]
    labels = {"1": [LabelledAnswer(uuid.uuid4(), p, h, "random") for p, h in pairs]}
    traffic = FakeTraffic({"1": answers(120, seed=11), "2": answers(120, seed=12, length=(40, 80))}, labels=labels)
    runs = FakeRuns()
    run_model(monitor(traffic, references, FakeReports(), runs), "sentiment", "sentiment", WINDOW)
    quality = {
        s[0].model_version: {(m.metric, m.key): m.value for m in s[1] if m.kind == "quality"} for s in runs.saved
    }
    assert quality["1"][("labelled_requests", "")] == 4
    assert quality["1"][("accuracy", "")] == pytest.approx(3 / 4)
    assert quality["1"][("random.accuracy", "")] == pytest.approx(3 / 4)
    assert quality["1"][("uncertainty.labelled_requests", "")] == 0
    assert quality["2"] == {(f"{s}labelled_requests", ""): 0.0 for s in ("", "random.", "uncertainty.", "client.")}
