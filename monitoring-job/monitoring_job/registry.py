"""The MLflow side of monitoring: which version serves, its reference sample, its stored calibration.

The calibration of a reference is stored next to it, in the version's run (``model/reference/``),
one file per calibration settings, so it is computed once per reference and read every hour.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from mlflow import MlflowClient
from mlflow.artifacts import download_artifacts
from mlflow.exceptions import MlflowException

from inference_core.model_registry import CHAMPION
from inference_core.reference import ARTIFACT_PATH, ReferenceSample
from monitoring_job.drift import Calibration


class MissingReference(LookupError):
    """The version was registered without a reference sample."""


class ReferenceRegistry:
    def __init__(self, tracking_uri: str) -> None:
        self._tracking_uri = tracking_uri
        self._client = MlflowClient(tracking_uri)

    def champion(self, model: str) -> str | None:
        """The version that serves `model` now, or None."""
        try:
            return str(self._client.get_model_version_by_alias(model, CHAMPION).version)
        except MlflowException:
            return None

    def reference(self, model: str, version: str) -> ReferenceSample:
        with tempfile.TemporaryDirectory(prefix="reference-") as workdir:
            try:
                return ReferenceSample.read(self._download(model, version, ARTIFACT_PATH, Path(workdir)))
            except (MlflowException, OSError) as exc:
                raise MissingReference(
                    f"{model} v{version} has no reference sample in MLflow ({type(exc).__name__}); versions trained "
                    "before monitoring existed have none: train a new one, or judge with --reference trailing:7d"
                ) from exc

    def calibration(self, model: str, version: str, key: str) -> Calibration | None:
        with tempfile.TemporaryDirectory(prefix="calibration-") as workdir:
            try:
                path = self._download(model, version, f"{ARTIFACT_PATH}/{_file(key)}", Path(workdir))
            except (MlflowException, OSError):
                return None
            return Calibration.from_json(path.read_text())

    def save_calibration(self, model: str, version: str, key: str, calibration: Calibration) -> None:
        found = self._client.get_model_version(model, version)
        if found.run_id is None:
            raise ValueError(f"{model} v{version} has no run to store its calibration in")
        # The version's artifacts sit under a path of its run ("model"): the reference is inside them.
        run_root = self._client.get_run(found.run_id).info.artifact_uri.rstrip("/")
        inside_run = str(found.source).removeprefix(run_root).strip("/")
        self._client.log_text(found.run_id, calibration.to_json(), f"{inside_run}/{ARTIFACT_PATH}/{_file(key)}")

    def _download(self, model: str, version: str, path: str, destination: Path) -> Path:
        source = self._client.get_model_version(model, version).source
        return Path(
            download_artifacts(
                artifact_uri=f"{source}/{path}", dst_path=str(destination), tracking_uri=self._tracking_uri
            )
        )


def _file(key: str) -> str:
    return f"calibration-{key}.json"
