"""What a version's traffic is judged against: its reference sample, calibrated once and kept."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Protocol

from inference_core.reference import ReferenceSample
from monitoring_job.drift import Calibration, calibrate
from monitoring_job.sample import Sample
from monitoring_job.settings import DriftSettings

log = logging.getLogger(__name__)


class References(Protocol):
    """The port: ReferenceRegistry (MLflow) here, a fake in unit tests."""

    def champion(self, model: str) -> str | None: ...

    def reference(self, model: str, version: str) -> ReferenceSample: ...

    def calibration(self, model: str, version: str, key: str) -> Calibration | None: ...

    def save_calibration(self, model: str, version: str, key: str, calibration: Calibration) -> None: ...


@dataclass(frozen=True)
class Baseline:
    model: str
    version: str
    reference: Sample
    calibration: Calibration
    calibration_seconds: float  # 0 when the stored calibration was reused


def baseline(references: References, model: str, version: str, settings: DriftSettings) -> Baseline:
    """The version's reference and its calibration: read if stored, else computed and stored."""
    reference = Sample.from_reference(references.reference(model, version))
    stored = references.calibration(model, version, settings.calibration_key)
    if stored is not None:
        return Baseline(model, version, reference, stored, 0.0)
    computed, took = calibrated(reference, settings)
    references.save_calibration(model, version, settings.calibration_key, computed)
    log.info("calibrated %s v%s on %d reference rows in %.1fs", model, version, len(reference), took)
    return Baseline(model, version, reference, computed, took)


def calibrated(reference: Sample, settings: DriftSettings) -> tuple[Calibration, float]:
    """`reference` calibrated with `settings`, and the seconds that took."""
    started = time.monotonic()
    calibration = calibrate(reference, settings.sizes, settings.draws, settings.alpha, settings.seed)
    return calibration, time.monotonic() - started
