"""The monitoring job's settings, read once from the environment by its composition root."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from inference_core.settings import AwsSettings, Env, database_url
from monitoring_job.drift import DEFAULT_SIZES


@dataclass(frozen=True)
class DriftSettings:
    """How verdicts are made (see ``monitoring_job.drift``); measured by benchmarks/drift_calibration.py."""

    min_rows: int = 50  # below this a window gets no verdict
    alpha_percent: int = 5  # chance that an ordinary window is called drifted
    draws: int = 1000  # null windows per calibrated size
    sizes: tuple[int, ...] = DEFAULT_SIZES
    seed: int = 0

    @property
    def alpha(self) -> float:
        return self.alpha_percent / 100

    @property
    def calibration_key(self) -> str:
        """Names a stored calibration: a change to any setting that shapes it calls for a new one."""
        fields = f"{self.alpha_percent}|{self.draws}|{','.join(map(str, self.sizes))}|{self.seed}"
        return hashlib.sha256(fields.encode()).hexdigest()[:12]

    @classmethod
    def from_env(cls, env: Env) -> DriftSettings:
        return cls(
            min_rows=env.integer("MONITORING_MIN_ROWS", 50, minimum=10),
            alpha_percent=env.integer("MONITORING_ALPHA_PERCENT", 5, minimum=1, maximum=50),
            draws=env.integer("MONITORING_CALIBRATION_DRAWS", 1000, minimum=50),
        )


@dataclass(frozen=True)
class Settings:
    database_url: str
    aws: AwsSettings
    mlflow_tracking_uri: str
    drift: DriftSettings
    max_rows: int = 2000  # requests judged per run; more are sampled (memory stays flat at any volume)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = Env(environ)
        return cls(
            database_url=database_url(env),
            aws=AwsSettings.from_env(env),
            mlflow_tracking_uri=env.text("MLFLOW_TRACKING_URI"),
            drift=DriftSettings.from_env(env),
            max_rows=env.integer("MONITORING_MAX_ROWS", 2000, minimum=100, maximum=50_000),
        )
